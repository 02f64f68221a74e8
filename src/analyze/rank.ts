import { formatPercent } from './format';
import type { LogPattern } from './logs';
import { METRIC_MIN_Z, type ScoredSeries } from './metrics';
import type { TraceSummary } from './traces';
import type { Analysis, Suspect } from '../model/analysis';

/**
 * Ranking suspects (pure): each service's own evidence (its strongest series, new or surging
 * log templates, errors that start in its spans), then trace blame, then a confidence.
 */

/** Below this a suspect is not worth naming; the no-fault controls stay under it. */
export const MIN_SUSPECT_SCORE = 1;
/** A top suspect under this is not a strong suspect: confidence stays low. */
export const STRONG_SUSPECT_SCORE = 2.5;
const MAX_SUSPECTS = 5;

/** log2(z / 1.5): 1 at z=3, 3 at z=12, 6 at z=96; a large z from a tiny IQR cannot swamp the rest. */
function metricStrength(z: number): number {
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

export interface RankedSuspect extends Suspect {
  kinds: Set<Contribution['kind']>;
  signals: NonNullable<Suspect['signals']>;
}

export function rankSuspects(
  scored: ScoredSeries[],
  patterns: LogPattern[],
  traces: TraceSummary,
  alerting: ReadonlySet<string>,
  /** The finding id of each quoted pattern (logFindingIds): the indicator cites it, never its text. */
  logIds: ReadonlyMap<LogPattern, string> = new Map(),
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
      // Log text is data anyone can write: a suspect names the finding that quotes it.
      indicator: `${best.isNew ? 'new' : 'surging'} log pattern${logIds.has(best) ? ` [${logIds.get(best)}]` : ''}`,
    });
  }
  if (traces.errorTraceCount > 0) {
    for (const [service, n] of traces.errorOrigins) {
      const share = n / traces.errorTraceCount;
      add(service, {
        kind: 'trace',
        value: 1.5 * share,
        indicator: `errors start in its spans in ${formatPercent(share)} of erroring traces`,
      });
    }
  }

  const own = new Map<string, number>();
  for (const [service, list] of contrib)
    own.set(
      service,
      list.reduce((s, c) => s + c.value, 0),
    );

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
    // Per kind: the summed value, named after its single largest part.
    const merged = new Map<Contribution['kind'], Contribution & { best: number }>();
    for (const p of parts) {
      const cur = merged.get(p.kind);
      if (!cur) merged.set(p.kind, { ...p, best: p.value });
      else
        merged.set(p.kind, {
          ...cur,
          value: cur.value + p.value,
          ...(p.value > cur.best ? { indicator: p.indicator, best: p.value } : {}),
        });
    }
    const sorted = [...merged.values()].sort((a, b) => b.value - a.value);
    ranked.push({
      service,
      indicator: sorted[0]?.indicator ?? 'anomalous',
      score: Math.round(score * 100) / 100,
      kinds: new Set(sorted.filter((p) => p.value >= 0.5).map((p) => p.kind)),
      signals: sorted
        .filter((p) => p.value >= 0.5)
        .map((p) => ({ kind: p.kind, count: p.kind === 'metric' ? (metricBy.get(service)?.length ?? 1) : 1 })),
    });
  }
  // On equal evidence the service the alert is about goes first: it is the prior.
  return ranked
    .sort(
      (a, b) =>
        b.score - a.score || Number(alerting.has(b.service)) - Number(alerting.has(a.service)) || a.service.localeCompare(b.service),
    )
    .slice(0, MAX_SUSPECTS);
}

/**
 * low: no strong suspect, or two suspects nearly tied; high: a clear leader backed by
 * two kinds of evidence (metrics and logs, or metrics and traces); medium otherwise.
 */
export function confidenceOf(suspects: RankedSuspect[]): Analysis['confidence'] {
  const top = suspects[0];
  if (!top || top.score < STRONG_SUSPECT_SCORE) return 'low';
  const second = suspects[1]?.score ?? 0;
  if (top.score < 1.15 * second) return 'low';
  if (top.score >= 5 && top.score >= 1.5 * second && top.kinds.size >= 2) return 'high';
  return 'medium';
}
