import { isUntrustedFinding, type Finding } from '../model/analysis';
import { clip } from '../text';
import { sanitizeFields } from '../model/sanitize';
import type { Narration, NarrationInput } from '../model/narration';
import { indicatorWithoutLogText } from './untrusted';
import { serviceOf } from './services';

export const TEMPLATE_PROMPT_VERSION = 'template-v1';

/**
 * A finding as cited in our own prose. A log pattern or a span's status message is quoted
 * text from the application, which anyone able to write a log line or fail a request
 * controls: it is cited by id (its text stays in the record's findings, as data), so a
 * planted line cannot speak in the note's voice.
 */
function citation(f: Finding): string {
  if (f.kind === 'log') return `[${f.id}] a new or surging log pattern${f.service ? ` in ${f.service}` : ''}`;
  if (isUntrustedFinding(f)) return `[${f.id}] a span status message${f.service ? ` in ${f.service}` : ''}`;
  return `[${f.id}] ${f.text}`;
}

/**
 * The deterministic narrator: a note built only from the alert's own labels and
 * annotations and the findings. Never fails; it is the fallback for every model failure.
 */
export function templateNarration(input: NarrationInput): Narration {
  const { alerts, analysis } = input;
  const first = alerts[0];
  const name = first?.labels.alertname ?? input.payload.commonLabels.alertname ?? 'alert';
  const services = [...new Set(alerts.map(serviceOf).filter((s): s is string => !!s))];
  const what =
    first?.annotations.summary ?? input.payload.commonAnnotations.summary ?? first?.annotations.description ?? `${name} is firing`;
  const scope = alerts.length > 1 ? ` (${alerts.length} alerts${services.length ? ` on ${services.join(', ')}` : ''})` : '';
  const top = analysis.suspects[0];
  const evidence = analysis.findings.filter((f) => f.kind !== 'source').slice(0, 3);

  const cited = evidence.map(citation).join('; ');
  const lead = top ? `${top.service} (${indicatorWithoutLogText(top.indicator)}, score ${top.score.toFixed(1)})` : '';
  const second = analysis.suspects[1];
  // Low confidence with a suspect: two nearly tied, or a lead too weak to call a cause.
  const tied = !!top && !!second && analysis.confidence === 'low' && top.score < 1.15 * second.score;
  const weak = !!top && analysis.confidence === 'low' && !tied;
  const verdict = !top
    ? undefined
    : tied && second
      ? `No single cause stands out: ${lead} and ${second.service} (score ${second.score.toFixed(1)}) are nearly tied.`
      : weak
        ? `No cause found: nothing stands out from its baseline; the strongest lead, ${lead}, is weak.`
        : `Most likely ${lead}.`;
  const rootCause = verdict
    ? verdict + (cited ? ` Evidence: ${cited}` : '')
    : cited
      ? `No single suspect stands out. ${cited}`
      : 'Not determined: no correlated evidence was available.';

  const actions: string[] = [];
  const runbook = first?.annotations.runbook_url ?? input.payload.commonAnnotations.runbook_url;
  if (runbook) actions.push(`Follow the runbook: ${runbook}`);
  if (weak) actions.push(`Nothing else moved: check whether ${name}'s threshold sits inside normal variation`);
  else if (top) actions.push(`Check ${top.service}: ${indicatorWithoutLogText(top.indicator)}`);
  if (first?.annotations.description && first.annotations.description !== what) actions.push(clip(first.annotations.description, 200));
  // The generic line only when nothing specific could be said.
  if (actions.length === 0) actions.push(`Confirm ${name} in the alert's source graph and recent deploys`);

  // Finding texts quote log lines: no pings or foreign links may ride along.
  return sanitizeFields(
    {
      summary: clip(`${what}${scope}`, 280),
      rootCause,
      evidence: evidence.map((f) => f.id),
      actions: actions.slice(0, 5),
      confidence: analysis.confidence,
      narrator: 'template',
      promptVersion: TEMPLATE_PROMPT_VERSION,
    },
    { allowedUrls: [runbook, ...alerts.map((a) => a.generatorURL)].filter((u): u is string => !!u) },
  );
}
