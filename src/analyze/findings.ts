import type { EvidenceBundle } from '../model/evidence';
import { formatClock, formatDurationMs, formatPercent, quote } from './format';
import type { LogPattern } from './logs';
import { METRIC_MIN_Z, metricFindingText, unscoredFindingText, type ScoredSeries, type UnscoredAlertSeries } from './metrics';
import { normaliseTraceId } from '../model/otlp';
import type { TraceSummary } from './traces';
import type { Finding } from '../model/analysis';

/** Findings (pure): one line of plain text with numbers each; ids M1…, L1…, T1…, S1…. */

const MAX_RELATED_TRACES = 10;

const MAX_METRIC_FINDINGS = 8;

/**
 * The alert's own expression first (it is what the reader saw), then the strongest series of
 * each suspect (a narrator may only name services the findings name), then the strongest others.
 */
export function metricFindings(
  scored: ScoredSeries[],
  now: Date,
  suspects: readonly string[] = [],
  unscored: readonly UnscoredAlertSeries[] = [],
): Finding[] {
  const first: Omit<Finding, 'id'>[] = unscored.slice(0, 2).map((s) => ({
    kind: 'metric' as const,
    text: unscoredFindingText(s, now),
    ...(s.service ? { service: s.service } : {}),
  }));
  const picked: ScoredSeries[] = [];
  for (const s of scored) if (s.fromAlert && picked.length < 2) picked.push(s);
  for (const service of suspects) {
    const best = scored.find((s) => s.service === service && s.score.z >= METRIC_MIN_Z);
    if (best && !picked.includes(best) && picked.length < MAX_METRIC_FINDINGS) picked.push(best);
  }
  for (const s of scored) {
    if (picked.length >= MAX_METRIC_FINDINGS) break;
    if (s.score.z >= METRIC_MIN_Z && !picked.includes(s)) picked.push(s);
  }
  const rest = picked.map((s) => ({
    kind: 'metric' as const,
    text: metricFindingText(s, now),
    ...(s.service ? { service: s.service } : {}),
  }));
  return [...first, ...rest].slice(0, MAX_METRIC_FINDINGS).map((f, i) => ({ ...f, id: `M${i + 1}` }));
}

const MAX_LOG_FINDINGS = 4;

const anomalousPatterns = (patterns: LogPattern[]) => patterns.filter((p) => p.strength > 0).slice(0, MAX_LOG_FINDINGS);

/** The id each anomalous pattern gets in logFindings: how a suspect's indicator cites its log text. */
export function logFindingIds(patterns: LogPattern[]): Map<LogPattern, string> {
  return new Map(anomalousPatterns(patterns).map((p, i) => [p, `L${i + 1}`]));
}

export function logFindings(patterns: LogPattern[], hadLogs: boolean, now: Date): Finding[] {
  const anomalous = anomalousPatterns(patterns);
  if (anomalous.length === 0) {
    if (!hadLogs) return [];
    const top = patterns[0];
    const total = patterns.reduce((s, p) => s + p.incidentCount, 0);
    return [
      {
        id: 'L1',
        kind: 'log',
        text:
          `no new or surging error/warn log pattern (${total} lines, ${patterns.length} templates in the incident window)` +
          (top ? `; most frequent in ${top.service}: ${quote(top.template, 80)} ×${top.incidentCount}` : ''),
      },
    ];
  }
  return anomalous.map((p, i) => {
    const since = p.firstSeen !== undefined ? ` since ${formatClock(p.firstSeen, now)}` : '';
    const text = p.isNew
      ? `new log pattern in ${p.service}: ${quote(p.template)} ×${p.incidentCount}${since} (none in baseline)`
      : `log pattern in ${p.service} ×${p.ratio >= 10 ? Math.round(p.ratio) : p.ratio.toFixed(1)} its baseline rate: ${quote(p.template)} ×${p.incidentCount}${since} (${p.baselineCount} in baseline)`;
    return { id: `L${i + 1}`, kind: 'log' as const, text, service: p.service };
  });
}

export function traceFindings(t: TraceSummary, alerting: ReadonlySet<string>): Finding[] {
  if (t.traceCount === 0) return [];
  const out: Omit<Finding, 'id'>[] = [];
  for (const u of [...alerting].sort()) {
    const blame = t.blame.get(u);
    if (!blame) continue;
    const [s, share] = [...blame.entries()].filter(([k]) => k !== u).sort((a, b) => b[1] - a[1])[0] ?? [];
    if (!s || share === undefined || share < 0.25) continue;
    const slow = t.slowest.get(s);
    out.push({
      kind: 'trace',
      service: s,
      text:
        `in ${t.tracesOf.get(u) ?? 0} slow/erroring traces of ${u}, ${s} owns ${formatPercent(share)} of the time and errors` +
        (slow ? `; its slowest span ${quote(slow.name, 60)} spends ${formatDurationMs(slow.ms)} on its own` : '') +
        `; own time per trace: ${ownTimes(t)}`,
    });
  }
  const origins = [...t.errorOrigins.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const top = origins[0];
  if (top && t.errorTraceCount > 0) {
    const f = t.failing.get(top[0]);
    out.push({
      kind: 'trace',
      service: top[0],
      text:
        `errors in ${top[1]} of ${t.errorTraceCount} erroring traces start in ${top[0]}` +
        // The status message is what the application wrote: its own, untrusted finding, cited by id.
        (f ? `: span ${quote(f.name, 60)}${f.message ? ` (status message in T${out.length + 2})` : ''}` : ''),
    });
    if (f?.message) {
      out.push({
        kind: 'trace',
        service: top[0],
        untrusted: true,
        text: `status message of the span ${quote(f.name, 60)} in ${top[0]}: ${quote(f.message, 160)}`,
      });
    }
  }
  if (out.length === 0) {
    const [s, ref] = [...t.slowest.entries()].sort((a, b) => b[1].ms - a[1].ms)[0] ?? [];
    out.push({
      kind: 'trace',
      text:
        `${t.traceCount} traces, no erroring span and no downstream service dominating; own time per trace: ${ownTimes(t)}` +
        (s && ref ? `; slowest span ${quote(ref.name, 60)} in ${s} (${formatDurationMs(ref.ms)} on its own)` : ''),
    });
  }
  return out.map((f, i) => ({ ...f, id: `T${i + 1}` }));
}

/** "payments 1.41 s, checkout 62 ms, frontend 21 ms": the three services that spend the most time on their own. */
function ownTimes(t: TraceSummary): string {
  return [...t.selfMs.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 3)
    .map(([s, ms]) => `${s} ${formatDurationMs(ms / Math.max(1, t.traceCount))}`)
    .join(', ');
}

export function sourceFindings(bundle: EvidenceBundle): Finding[] {
  const out: Finding[] = [];
  for (const s of bundle.sources ?? []) {
    if (s.status === 'ok') continue;
    out.push({
      id: `S${out.length + 1}`,
      kind: 'source',
      text: `${s.source}: ${s.status === 'skipped' ? 'not queried' : s.status}${s.detail ? ` (${s.detail})` : ''}`,
    });
  }
  return out;
}

export function relatedTraceIds(bundle: EvidenceBundle, incidentStartS: number, t: TraceSummary): string[] {
  const exemplars = (bundle.exemplars ?? [])
    .filter((e) => e.timestamp >= incidentStartS)
    .sort((a, b) => b.value - a.value)
    .map((e) => normaliseTraceId(e.traceId));
  return [...new Set([...exemplars, ...t.traceIds])].slice(0, MAX_RELATED_TRACES);
}
