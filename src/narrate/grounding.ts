import type { NarrationBody, NarrationInput } from '../model/narration';
import { indicatorWithoutLogText } from './untrusted';

/**
 * Grounding checks on a model answer (docs/architecture.md, "narrate"): every cited evidence id must
 * exist, and every service named must come from the findings, the suspects or the labels.
 * The model is a narrator; an answer that brings in a cause from elsewhere (its own guess,
 * or an instruction planted in a log line) is rejected.
 */

/** kebab/snake/dotted identifiers: how services, hosts and metrics are spelled. */
const IDENTIFIER = /(?<![A-Za-z0-9_.<-])[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)+(?![A-Za-z0-9_-])/g;
/** Words that end like a component: an identifier with one of these tails names a service. */
const SERVICE_TAIL =
  /[-_.](?:db|database|svc|service|api|app|server|cache|redis|queue|broker|worker|gateway|proxy|backend|frontend|store|cluster)$/i;
const FINDING_ID = /\b[A-Z]\d{1,3}\b/g;
const URL = /\b[a-z][a-z0-9+.-]*:\/\/\S+/gi;
const PLACEHOLDER = /<[A-Z_]+_\d+>/g;

function identifiers(text: string): string[] {
  return text.replace(URL, ' ').replace(PLACEHOLDER, ' ').match(IDENTIFIER) ?? [];
}

function tokensOf(text: string, into: Set<string>): void {
  for (const id of identifiers(text)) into.add(id.toLowerCase());
  for (const w of text.split(/[^A-Za-z0-9_.-]+/)) if (w) into.add(w.toLowerCase());
}

/** What the answer may mention: everything from the alert, the suspects and non-log findings. */
function trustedVocabulary(input: NarrationInput): Set<string> {
  const vocab = new Set<string>();
  const add = (s: string | undefined) => s && tokensOf(s, vocab);
  for (const labels of [input.payload.commonLabels, input.payload.groupLabels, ...input.alerts.map((a) => a.labels)]) {
    for (const [k, v] of Object.entries(labels)) {
      add(k);
      add(v);
      vocab.add(v.toLowerCase());
    }
  }
  for (const a of input.alerts) for (const v of Object.values(a.annotations)) add(v);
  for (const v of Object.values(input.payload.commonAnnotations)) add(v);
  for (const s of input.analysis.suspects) {
    vocab.add(s.service.toLowerCase());
    add(indicatorWithoutLogText(s.indicator));
  }
  for (const f of input.analysis.findings) {
    if (f.service) vocab.add(f.service.toLowerCase());
    if (f.kind !== 'log') add(f.text);
  }
  return vocab;
}

/** Identifiers that only the log data mentions: naming one is repeating untrusted text. */
function logOnlyIdentifiers(input: NarrationInput, trusted: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const f of input.analysis.findings) {
    if (f.kind !== 'log') continue;
    for (const id of identifiers(f.text)) {
      const lower = id.toLowerCase();
      if (!trusted.has(lower)) out.add(lower);
    }
  }
  return out;
}

/**
 * The grounding check for one input: what the answer may cite and name is worked out once
 * (per narrate, not per attempt); the returned function lists an answer's problems, in
 * words the model can act on, empty when grounded.
 */
export function groundingCheck(input: NarrationInput): (answer: NarrationBody) => string[] {
  const known = new Set(input.analysis.findings.map((f) => f.id));
  const needsEvidence = input.analysis.findings.some((f) => f.kind !== 'source');
  const trusted = trustedVocabulary(input);
  const logOnly = logOnlyIdentifiers(input, trusted);

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
      if (logOnly.has(lower) || SERVICE_TAIL.test(lower)) named.add(id);
    }
    if (named.size) {
      problems.push(`names services that are not in SUSPECTS, FINDINGS or the alert labels: ${[...named].join(', ')}`);
    }
    return problems;
  };
}

/** Problems with an answer, in words the model can act on; empty when grounded. */
export function groundingProblems(answer: NarrationBody, input: NarrationInput): string[] {
  return groundingCheck(input)(answer);
}
