import type { Series } from '../model/evidence';
import { formatClock, formatValue } from './format';
import { serviceOfLabels } from './service';
import { robustZ, scoreSeries, Z_CAP, type SeriesScore } from './stats';

/** A score below this is noise (a normal series reaches about 2 on the second-largest point). */
export const METRIC_MIN_Z = 3;

export interface ScoredSeries {
  service?: string;
  /** What it measures: the template's name, the metric name, or "alert expression". */
  what: string;
  unit?: string;
  labels: Record<string, string>;
  fromAlert: boolean;
  score: SeriesScore;
  /** The sample Prometheus shows at startsAt (the first at or after it, else the last before): [unix s, value]. */
  atStart?: readonly [number, number];
}

/** An alert expression with too little baseline to score: still reported, with its value at startsAt. */
export interface UnscoredAlertSeries {
  service?: string;
  what: string;
  unit?: string;
  labels: Record<string, string>;
  atStart: readonly [number, number];
  /** Unix seconds of its first sample. */
  firstS: number;
}

export interface ScoreOptions {
  /** startsAt (unix s): the alert expression is reported at this point. */
  anchorS?: number;
  /** Where the baseline window begins (unix s), and the shortest covered baseline that is scored. */
  baselineStartS?: number;
  minBaselineS?: number;
  /** Alert expressions left unscored for want of a baseline are appended here. */
  unscored?: UnscoredAlertSeries[];
}

/** The sample at startsAt: the first within one step after it, else the last before it. */
function sampleAt(pts: readonly (readonly [number, number])[], t: number): readonly [number, number] | undefined {
  let before: readonly [number, number] | undefined;
  for (const p of pts) {
    if (p[0] >= t) {
      const step = before ? p[0] - before[0] : 0;
      return !before || p[0] - t <= Math.max(step, 60) ? p : before;
    }
    before = p;
  }
  return before;
}

/** Labels that tell two series of one service apart in a finding. */
const QUALIFIERS = ['pod', 'instance', 'device', 'mountpoint', 'container'];

function describe(s: Series): string {
  if (s.name) return s.name;
  if (s.labels.__name__) return s.labels.__name__;
  return s.query !== null ? 'alert expression' : 'series';
}

/** Scores every series in the bundle against its own baseline; series with too few points are left out. */
export function scoreAllSeries(
  series: readonly Series[],
  incidentStartS: number,
  endS: number,
  serviceLabels: readonly string[],
  opts: ScoreOptions = {},
): ScoredSeries[] {
  const out: ScoredSeries[] = [];
  const seen = new Map<string, ScoredSeries>();
  for (const s of series) {
    const base: [number, number][] = [];
    const inc: [number, number][] = [];
    for (const [t, raw] of s.values) {
      const v = Number(raw);
      // Prometheus encodes NaN/±Inf as strings ("NaN" from histogram_quantile on no traffic).
      if (!Number.isFinite(v)) continue;
      if (t < incidentStartS) base.push([t, v]);
      else if (t <= endS) inc.push([t, v]);
    }
    // A baseline that covers only minutes of the window (a new service, fresh history) is no
    // baseline: its spread says nothing about normal.
    const covered = base.length ? incidentStartS - Math.max(base[0]![0], opts.baselineStartS ?? -Infinity) : 0;
    const enough = covered >= (opts.minBaselineS ?? 0);
    const atStart = s.query !== null && opts.anchorS !== undefined ? sampleAt([...base, ...inc], opts.anchorS) : undefined;
    const score = enough ? scoreSeries(base, inc) : undefined;
    if (!score) {
      const first = base[0] ?? inc[0];
      if (atStart && first && opts.unscored)
        opts.unscored.push({
          service: serviceOfLabels(s.labels, serviceLabels),
          what: describe(s),
          unit: s.unit,
          labels: s.labels,
          atStart,
          firstS: first[0],
        });
      continue;
    }
    // The alert's expression often returns the same data as a related query: score it once,
    // under the related query's name, so it neither counts twice nor reads as "alert expression".
    const sig = `${serviceOfLabels(s.labels, serviceLabels)}|${score.z}|${score.peak}|${score.baseline.median}|${score.baseline.scale}`;
    const twin = seen.get(sig);
    if (twin) {
      if (s.query !== null) {
        twin.fromAlert = true;
        if (atStart) twin.atStart = atStart;
      } else if (twin.fromAlert && (s.name || s.labels.__name__)) Object.assign(twin, { what: describe(s), unit: twin.unit ?? s.unit });
      continue;
    }
    const scoredSeries: ScoredSeries = {
      service: serviceOfLabels(s.labels, serviceLabels),
      what: describe(s),
      unit: s.unit,
      labels: s.labels,
      fromAlert: s.query !== null,
      score,
      ...(atStart ? { atStart } : {}),
    };
    seen.set(sig, scoredSeries);
    out.push(scoredSeries);
  }
  return out.sort((a, b) => b.score.z - a.score.z);
}

function subjectOf(s: Pick<ScoredSeries, 'labels' | 'service' | 'what'>): string {
  const qualifier = QUALIFIERS.map((q) => s.labels[q]).find((v) => v && v !== s.service);
  return `${s.what} of ${s.service ?? 'an unlabelled series'}${qualifier ? ` (${qualifier})` : ''}`;
}

/**
 * "p99 latency of checkout 2.8 s vs baseline 0.21 s (z=14), rising since 02:14 UTC". The alert's
 * own expression reads at startsAt, as Prometheus shows it there ("… 35% at 02:20 UTC (startsAt)
 * vs baseline …"): its peak-of-the-window value would not be the number the reader saw.
 */
export function metricFindingText(s: ScoredSeries, now: Date): string {
  const subject = subjectOf(s);
  const { baseline, trend, changeAt } = s.score;
  const at = s.fromAlert ? s.atStart : undefined;
  const z = at ? robustZ(at[1], baseline) : s.score.z;
  const peak = at ? at[1] : s.score.peak;
  const when = at ? ` at ${formatClock(at[0], now)} (startsAt)` : '';
  const zText = z >= Z_CAP ? (baseline.scale === 0 ? 'baseline flat' : `z≥${Z_CAP}`) : `z=${z >= 10 ? Math.round(z) : z.toFixed(1)}`;
  const moved = trend !== 'flat' ? trend : s.score.direction;
  const since = changeAt !== undefined ? `${moved} since ${formatClock(changeAt, now)}` : trend !== 'flat' ? trend : '';
  return `${subject} ${formatValue(peak, s.unit)}${when} vs baseline ${formatValue(baseline.median, s.unit)} (${zText})${since ? `, ${since}` : ''}`;
}

/** "alert expression of checkout 35% at 02:20 UTC (startsAt); no baseline to compare against (data since 02:16 UTC)" */
export function unscoredFindingText(s: UnscoredAlertSeries, now: Date): string {
  return `${subjectOf(s)} ${formatValue(s.atStart[1], s.unit)} at ${formatClock(s.atStart[0], now)} (startsAt); no baseline to compare against (data since ${formatClock(s.firstS, now)})`;
}
