import type { EvidenceBundle } from '../gather/evidence';
import { alertWindows, type WindowOptions } from '../gather/window';
import type { DrainOptions } from './drain';
import { formatClock, formatDurationMs, formatPercent, quote } from './format';
import { minePatterns, type LogPattern } from './logs';
import { METRIC_MIN_Z, metricFindingText, scoreAllSeries, type ScoredSeries } from './metrics';
import { normaliseId } from './otlp';
import { DEFAULT_SERVICE_LABELS, serviceOfLabels } from './service';
import { summariseTraces, type TraceSummary } from './traces';
import type { Analysis, Finding, Suspect } from './types';

export interface AnalyzeOptions extends WindowOptions {
  /** Labels that name a service, in order (SERVICE_LABELS). */
  serviceLabels?: readonly string[];
  drain?: DrainOptions;
}

/** Below this a suspect is not worth naming; the no-fault controls stay under it. */
export const MIN_SUSPECT_SCORE = 1;
/** A top suspect under this is not a strong suspect: confidence stays low. */
export const STRONG_SUSPECT_SCORE = 2.5;
const MAX_SUSPECTS = 5;
const MAX_RELATED_TRACES = 10;

/** log2(z / 1.5): 1 at z=3, 3 at z=12, 6 at z=96; a large z from a tiny IQR cannot swamp the rest. */
export function metricStrength(z: number): number {
  return z < METRIC_MIN_Z ? 0 : Math.log2(z / 1.5);
}

interface Contribution {
  kind: 'metric' | 'log' | 'trace';
  value: number;
  indicator: string;
}

function diminishing(values: number[]): number {
  return values
    .sort((a, b) => b - a)
    .slice(0, 3)
    .reduce((s, v, i) => s + v / 2 ** i, 0);
}

/** Evidence → findings. Pure: the same bundle and options always give the same analysis. */
export function analyze(bundle: EvidenceBundle, opts: AnalyzeOptions = {}): Analysis {
  const serviceLabels = opts.serviceLabels?.length ? opts.serviceLabels : DEFAULT_SERVICE_LABELS;
  const now = new Date(bundle.now);
  // The windows the sources queried, when the bundle says; otherwise the same rule they use.
  const w = alertWindows(bundle.payload.alerts, now, opts);
  const incS = (bundle.windows ? Date.parse(bundle.windows.incidentStart) : w.incidentStart.getTime()) / 1000;
  const baseS = (bundle.windows ? Date.parse(bundle.windows.baselineStart) : w.baselineStart.getTime()) / 1000;
  const endS = now.getTime() / 1000;

  const scored = scoreAllSeries(bundle.series, incS, endS, serviceLabels);
  const patterns = minePatterns(bundle.logs, incS, endS, baseS, serviceLabels, opts.drain);
  const traces = summariseTraces(bundle.traces);
  const alerting = new Set(
    bundle.payload.alerts
      .filter((a) => a.status === 'firing')
      .map((a) => serviceOfLabels(a.labels, serviceLabels))
      .filter((s): s is string => !!s),
  );

  const suspects = rankSuspects(scored, patterns, traces, alerting);
  const findings: Finding[] = [
    ...metricFindings(scored, now),
    ...logFindings(patterns, bundle.logs.length > 0, now),
    ...traceFindings(traces, alerting),
    ...sourceFindings(bundle),
  ];
  // The evidence for the top suspect reads first (a narrator, or a reader, takes the head of
  // the list); ids keep their order within each kind.
  const top = suspects[0]?.service;
  const ordered = top ? [...findings.filter((f) => f.service === top), ...findings.filter((f) => f.service !== top)] : findings;
  return {
    findings: ordered,
    suspects: suspects.map(({ service, indicator, score }) => ({ service, indicator, score })),
    relatedTraceIds: relatedTraceIds(bundle, incS, traces),
    confidence: confidenceOf(suspects),
  };
}

interface RankedSuspect extends Suspect {
  kinds: Set<Contribution['kind']>;
}

function rankSuspects(
  scored: ScoredSeries[],
  patterns: LogPattern[],
  traces: TraceSummary,
  alerting: ReadonlySet<string>,
): RankedSuspect[] {
  const contrib = new Map<string, Contribution[]>();
  const add = (service: string, c: Contribution): void => {
    if (c.value <= 0) return;
    let list = contrib.get(service);
    if (!list) contrib.set(service, (list = []));
    list.push(c);
  };

  // Own evidence of each service: its strongest series, its strongest log patterns, and
  // errors that start in its spans.
  const metricBy = new Map<string, { v: number; s: ScoredSeries }[]>();
  for (const s of scored) {
    if (!s.service) continue;
    const v = metricStrength(s.score.z);
    if (v <= 0) continue;
    const list = metricBy.get(s.service) ?? [];
    list.push({ v, s });
    metricBy.set(s.service, list);
  }
  for (const [service, list] of metricBy) {
    const best = list[0]!.s;
    const z = best.score.z;
    add(service, {
      kind: 'metric',
      value: diminishing(list.map((x) => x.v)),
      indicator: `${best.what} ${best.score.direction === 'up' ? 'up' : 'down'} (z=${z >= 10 ? Math.round(z) : z.toFixed(1)})`,
    });
  }
  const logBy = new Map<string, LogPattern[]>();
  for (const p of patterns) {
    if (p.strength <= 0) continue;
    logBy.set(p.service, [...(logBy.get(p.service) ?? []), p]);
  }
  for (const [service, list] of logBy) {
    const best = list[0]!;
    add(service, {
      kind: 'log',
      value: best.strength + 0.25 * (list[1]?.strength ?? 0),
      indicator: `${best.isNew ? 'new' : 'surging'} log pattern ${quote(best.template, 60)}`,
    });
  }
  if (traces.errorTraceCount > 0) {
    for (const [service, n] of traces.errorOrigins) {
      const share = n / traces.errorTraceCount;
      add(service, { kind: 'trace', value: 1.5 * share, indicator: `errors start in its spans in ${formatPercent(share)} of erroring traces` });
    }
  }

  const own = new Map<string, number>();
  for (const [service, list] of contrib) own.set(service, list.reduce((s, c) => s + c.value, 0));

  // Trace blame: the symptoms of an alerting service move to the services that own the time
  // and the errors inside its traces, so a slow downstream ranks above the upstream that
  // alerted. Other services hand on only what their errors say (where a failure starts is
  // unambiguous; where time goes is not: a healthy service spends most of it in its database).
  // A service with no evidence of its own receives half.
  const final = new Map<string, { score: number; parts: Contribution[] }>();
  const bump = (service: string, value: number, c?: Contribution): void => {
    const cur = final.get(service) ?? { score: 0, parts: [] };
    cur.score += value;
    if (c) cur.parts.push(c);
    final.set(service, cur);
  };
  for (const [service, list] of contrib) {
    const delegates = alerting.has(service) ? traces.blame.get(service) : traces.errorBlame.get(service);
    const keep = delegates ? (delegates.get(service) ?? 0) : 1;
    const symptoms = list.filter((c) => c.kind !== 'trace').reduce((s, c) => s + c.value, 0);
    const direct = list.filter((c) => c.kind === 'trace').reduce((s, c) => s + c.value, 0);
    bump(service, symptoms * keep + direct);
    for (const c of list) final.get(service)!.parts.push({ ...c, value: c.kind === 'trace' ? c.value : c.value * keep });
    if (!delegates) continue;
    for (const [target, share] of delegates) {
      if (target === service || share <= 0) continue;
      const corroborated = (own.get(target) ?? 0) >= 0.5 ? 1 : 0.5;
      const value = symptoms * share * corroborated;
      const what = alerting.has(service) ? 'trace time and errors' : 'trace errors';
      bump(target, value, { kind: 'trace', value, indicator: `owns ${formatPercent(share)} of ${service}'s ${what}` });
    }
  }

  const ranked: RankedSuspect[] = [];
  for (const [service, { score, parts }] of final) {
    if (score < MIN_SUSPECT_SCORE) continue;
    const merged = new Map<Contribution['kind'], Contribution>();
    for (const p of parts) {
      const cur = merged.get(p.kind);
      merged.set(p.kind, cur ? { ...(cur.value >= p.value ? cur : p), value: cur.value + p.value } : p);
    }
    const sorted = [...merged.values()].sort((a, b) => b.value - a.value);
    ranked.push({
      service,
      indicator: sorted[0]?.indicator ?? 'anomalous',
      score: Math.round(score * 100) / 100,
      kinds: new Set(sorted.filter((p) => p.value >= 0.5).map((p) => p.kind)),
    });
  }
  // On equal evidence the service the alert is about goes first: it is the prior.
  return ranked
    .sort((a, b) => b.score - a.score || Number(alerting.has(b.service)) - Number(alerting.has(a.service)) || a.service.localeCompare(b.service))
    .slice(0, MAX_SUSPECTS);
}

/**
 * low: no strong suspect, or two suspects nearly tied; high: a clear leader backed by
 * two kinds of evidence (metrics and logs, or metrics and traces); medium otherwise.
 */
function confidenceOf(suspects: RankedSuspect[]): Analysis['confidence'] {
  const top = suspects[0];
  if (!top || top.score < STRONG_SUSPECT_SCORE) return 'low';
  const second = suspects[1]?.score ?? 0;
  if (top.score < 1.15 * second) return 'low';
  if (top.score >= 5 && top.score >= 1.5 * second && top.kinds.size >= 2) return 'high';
  return 'medium';
}

const MAX_METRIC_FINDINGS = 8;

function metricFindings(scored: ScoredSeries[], now: Date): Finding[] {
  const picked: ScoredSeries[] = [];
  // The alert's own expression first (it is what the reader saw), then the strongest others.
  for (const s of scored) if (s.fromAlert && picked.length < 2) picked.push(s);
  for (const s of scored) {
    if (picked.length >= MAX_METRIC_FINDINGS) break;
    if (s.score.z >= METRIC_MIN_Z && !picked.includes(s)) picked.push(s);
  }
  return picked.map((s, i) => ({
    id: `M${i + 1}`,
    kind: 'metric' as const,
    text: metricFindingText(s, now),
    ...(s.service ? { service: s.service } : {}),
  }));
}

const MAX_LOG_FINDINGS = 4;

function logFindings(patterns: LogPattern[], hadLogs: boolean, now: Date): Finding[] {
  const anomalous = patterns.filter((p) => p.strength > 0).slice(0, MAX_LOG_FINDINGS);
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

function traceFindings(t: TraceSummary, alerting: ReadonlySet<string>): Finding[] {
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
        (f ? `: span ${quote(f.name, 60)}${f.message ? ` (${quote(f.message, 80)})` : ''}` : ''),
    });
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

function sourceFindings(bundle: EvidenceBundle): Finding[] {
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

function relatedTraceIds(bundle: EvidenceBundle, incidentStartS: number, t: TraceSummary): string[] {
  const exemplars = (bundle.exemplars ?? [])
    .filter((e) => e.timestamp >= incidentStartS)
    .sort((a, b) => b.value - a.value)
    .map((e) => normaliseId(e.traceId));
  return [...new Set([...exemplars, ...t.traceIds])].slice(0, MAX_RELATED_TRACES);
}
