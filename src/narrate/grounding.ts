import { isUntrustedFinding } from '../model/analysis';
import type { NarrationBody, NarrationInput } from '../model/narration';
import { serviceOf } from './services';

/**
 * Grounding checks on a model answer (docs/architecture.md, "narrate"): every cited evidence id must
 * exist, every service named must come from trusted fields (the labels, the suspects, the
 * services of the findings, metric names), and the answer must stay with the analysis: the
 * root cause is the top suspect, no other service is blamed, and with no suspect no cause is
 * claimed. The model is a narrator; an answer that brings in a cause from elsewhere (its own
 * guess, or an instruction planted in a log line, a label or a span) is rejected, and so is
 * one with a link or a Slack mention the alert did not bring.
 */

/** kebab/snake/dotted identifiers: how services, hosts and metrics are spelled. */
const IDENTIFIER = /(?<![A-Za-z0-9_.<-])[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)+(?![A-Za-z0-9_-])/g;
/** Words that end like a component: an identifier with one of these tails names a service. */
const SERVICE_TAIL =
  /[-_.](?:db|database|svc|service|api|app|server|cache|redis|queue|broker|worker|gateway|proxy|backend|frontend|store|cluster)$/i;
const FINDING_ID = /\b[A-Z]\d{1,3}\b/g;
const URL = /\b[a-z][a-z0-9+.-]*:\/\/[^\s<>|"')\]]+/gi;
const PLACEHOLDER = /<[A-Z_]+_\d+>/g;
/** A quotation as analysis writes one (format.ts quote: inner quotes escaped). */
const QUOTATION = /"(?:[^"\\]|\\.)*"/g;
/** Slack mentions and group pings (https://api.slack.com/reference/surfaces/formatting). */
const MENTION = /<[!@#][^<>]*>|(?:^|[^\w@])@(?:channel|here|everyone)\b/i;
/** How a root cause says there is none. */
const UNDETERMINED =
  /\b(?:not (?:been )?determined|undetermined|unknown|unclear|inconclusive|cannot be determined|no (?:single |clear )?(?:suspect|cause))\b/i;

function identifiers(text: string): string[] {
  return text.replace(URL, ' ').replace(PLACEHOLDER, ' ').match(IDENTIFIER) ?? [];
}

/**
 * What the answer may mention, from trusted fields only: label names and values (a value
 * with no space in it is a name: its identifiers count too; one with spaces is prose and
 * counts only whole), the services of the suspects, the findings and the topology, and the identifiers of
 * findings that quote nothing (metric names, our own wording) outside their quotations.
 * Annotations and anything an application wrote add nothing.
 */
function trustedVocabulary(input: NarrationInput): Set<string> {
  const vocab = new Set<string>();
  const addIds = (s: string) => identifiers(s).forEach((id) => vocab.add(id.toLowerCase()));
  for (const labels of [input.payload.commonLabels, input.payload.groupLabels, ...input.alerts.map((a) => a.labels)]) {
    for (const [k, v] of Object.entries(labels)) {
      vocab.add(k.toLowerCase());
      vocab.add(v.toLowerCase());
      if (!/\s/.test(v)) addIds(v);
    }
  }
  for (const s of input.analysis.suspects) vocab.add(s.service.toLowerCase());
  for (const s of input.analysis.services ?? []) vocab.add(s.toLowerCase());
  for (const f of input.analysis.findings) {
    if (f.service) vocab.add(f.service.toLowerCase());
    if (!isUntrustedFinding(f)) addIds(f.text.replace(QUOTATION, ' '));
  }
  return vocab;
}

/** Identifiers that only outside text mentions: naming one is repeating untrusted text. */
function untrustedOnlyIdentifiers(input: NarrationInput, trusted: Set<string>): Set<string> {
  const out = new Set<string>();
  const add = (text: string) => {
    for (const id of identifiers(text)) if (!trusted.has(id.toLowerCase())) out.add(id.toLowerCase());
  };
  for (const f of input.analysis.findings) add(isUntrustedFinding(f) ? f.text : (f.text.match(QUOTATION) ?? []).join(' '));
  for (const a of input.alerts) Object.values(a.annotations).forEach(add);
  Object.values(input.payload.commonAnnotations).forEach(add);
  return out;
}

/**
 * Words in a row an answer may share with outside prose before it counts as repeating it:
 * few with what an application wrote (untrusted findings), more with the alert's own label
 * values and annotations, which a faithful note paraphrases ("High 5xx error rate on api").
 */
const SHARED_WITH_FINDINGS = 5;
const SHARED_WITH_ALERT = 7;
const wordsOf = (text: string) =>
  text
    .normalize('NFKC')
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu) ?? [];

interface Runs {
  /** run length -> run -> the whole texts it comes from ('' for a finding: nothing exempts it). */
  byLength: Map<number, Map<string, string[]>>;
}

/**
 * Runs of words of outside prose (the untrusted findings, and the label values and
 * annotations, which can carry label values a target exported), each with the whole text it
 * comes from. An answer may contain none, except inside a whole label value or annotation
 * repeated as the alert states it: a fragment, such as a phrase it dictates, is rejected.
 */
function outsideRuns(input: NarrationInput): Runs {
  const byLength = new Map<number, Map<string, string[]>>();
  const add = (text: string, n: number, whole: string) => {
    const runs = byLength.get(n) ?? new Map<string, string[]>();
    byLength.set(n, runs);
    const w = wordsOf(text);
    for (let i = 0; i + n <= w.length; i++) {
      const run = w.slice(i, i + n).join(' ');
      runs.set(run, [...(runs.get(run) ?? []), whole]);
    }
  };
  for (const f of input.analysis.findings) if (isUntrustedFinding(f)) add(f.text, SHARED_WITH_FINDINGS + 1, '');
  const values = [
    ...input.alerts.flatMap((a) => [...Object.values(a.annotations), ...Object.values(a.labels)]),
    ...Object.values(input.payload.commonAnnotations),
  ];
  for (const v of values) add(v, SHARED_WITH_ALERT + 1, wordsOf(v).join(' '));
  return { byLength };
}

function repeats(prose: string, { byLength }: Runs): boolean {
  const w = wordsOf(prose);
  const all = ` ${w.join(' ')} `;
  for (const [n, runs] of byLength) {
    for (let i = 0; i + n <= w.length; i++) {
      const wholes = runs.get(w.slice(i, i + n).join(' '));
      if (wholes && !wholes.some((whole) => whole !== '' && all.includes(` ${whole} `))) return true;
    }
  }
  return false;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** True when `text` names `service` as a whole word (case-insensitive). */
function names(text: string, service: string): boolean {
  return new RegExp(`(?<![A-Za-z0-9_.-])${escapeRegExp(service)}(?![A-Za-z0-9_-])`, 'i').test(text);
}

/**
 * The grounding check for one input: what the answer may cite and name is worked out once
 * (per narrate, not per attempt); the returned function lists an answer's problems, in
 * words the model can act on, empty when grounded. `allowedUrls`: links the answer may carry
 * (the alert's runbook and generator URLs, our Grafana), as prefixes.
 */
export function groundingCheck(input: NarrationInput, allowedUrls: readonly string[] = []): (answer: NarrationBody) => string[] {
  const known = new Set(input.analysis.findings.map((f) => f.id));
  const needsEvidence = input.analysis.findings.some((f) => f.kind !== 'source');
  const trusted = trustedVocabulary(input);
  const untrustedOnly = untrustedOnlyIdentifiers(input, trusted);
  const runs = outsideRuns(input);
  const top = input.analysis.suspects[0]?.service;
  // Besides the top suspect, a note may name the services that alerted and those its
  // indicator relates to it ("owns 100% of checkout's trace errors"): victims, not causes.
  const indicator = input.analysis.suspects[0]?.indicator ?? '';
  const alerting = input.alerts.map(serviceOf).filter((s): s is string => !!s);
  const all = [
    ...input.analysis.suspects.map((s) => s.service),
    ...input.analysis.findings.map((f) => f.service),
    ...(input.analysis.services ?? []),
  ];
  const mayName = new Set(
    [top, ...alerting, ...all.filter((s) => !!s && names(indicator, s))].filter((s): s is string => !!s).map((s) => s.toLowerCase()),
  );
  const services = new Set(all.filter((s): s is string => !!s && !mayName.has(s.toLowerCase())));
  const urls = [
    ...allowedUrls,
    input.payload.commonAnnotations.runbook_url,
    ...input.alerts.flatMap((a) => [a.annotations.runbook_url, a.generatorURL]),
  ].filter((u): u is string => !!u);

  return (answer) => {
    const problems: string[] = [];
    const prose = [answer.summary, answer.rootCause, ...answer.actions].join('\n');

    const unknownCited = answer.evidence.filter((id) => !known.has(id));
    const unknownInline = [...new Set(prose.match(FINDING_ID) ?? [])].filter((id) => !known.has(id) && /^[MLTSA]\d/.test(id));
    const badIds = [...new Set([...unknownCited, ...unknownInline])];
    if (badIds.length) problems.push(`cites ids that are not in FINDINGS: ${badIds.join(', ')}`);
    if (answer.evidence.length === 0 && needsEvidence) {
      problems.push('"evidence" is empty: cite the ids of the findings the root cause rests on');
    }

    const named = new Set<string>();
    for (const id of identifiers(prose)) {
      const lower = id.toLowerCase();
      if (trusted.has(lower)) continue;
      if (untrustedOnly.has(lower) || SERVICE_TAIL.test(lower)) named.add(id);
    }
    if (named.size) {
      problems.push(`names services that are not in SUSPECTS, FINDINGS or the alert labels: ${[...named].join(', ')}`);
    }

    // Held to the analysis: a model can be talked into naming another real service.
    const blamed = [...services].filter((s) => names(prose, s));
    if (top) {
      if (!names(answer.rootCause, top)) problems.push(`"rootCause" must name the analysis's top suspect, ${top}`);
      if (blamed.length) problems.push(`names ${blamed.join(', ')}: the analysis's top suspect is ${top}; name no other service`);
    } else {
      if (!UNDETERMINED.test(answer.rootCause))
        problems.push('the analysis found no suspect: "rootCause" must say the cause is not determined');
      if (blamed.length) problems.push(`names ${blamed.join(', ')}: the analysis found no suspect; name no service as the cause`);
    }

    // Words an application wrote, repeated: a dictated phrase speaking in the note's voice.
    if (repeats(prose, runs)) {
      problems.push('repeats words of the UNTRUSTED DATA or part of an annotation: cite findings by id and say it in your own words');
    }

    const foreign = (prose.match(URL) ?? []).filter((u) => !urls.some((a) => u === a || u.startsWith(a)));
    if (foreign.length) problems.push(`links that are not the alert's: ${foreign.length}; leave links out`);
    if (MENTION.test(prose)) problems.push('mentions or pings (<!channel>, @here, <@U…>): leave them out');
    return problems;
  };
}

/** Problems with an answer, in words the model can act on; empty when grounded. */
export function groundingProblems(answer: NarrationBody, input: NarrationInput, allowedUrls: readonly string[] = []): string[] {
  return groundingCheck(input, allowedUrls)(answer);
}
