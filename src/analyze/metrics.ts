import type { Series } from '../model/evidence';
import { formatClock, formatValue } from './format';
import { serviceOfLabels } from './service';
import { scoreSeries, Z_CAP, type SeriesScore } from './stats';

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
    const score = scoreSeries(base, inc);
    if (!score) continue;
    // The alert's expression often returns the same data as a related query: score it once,
    // under the related query's name, so it neither counts twice nor reads as "alert expression".
    const sig = `${serviceOfLabels(s.labels, serviceLabels)}|${score.z}|${score.peak}|${score.baseline.median}|${score.baseline.scale}`;
    const twin = seen.get(sig);
    if (twin) {
      if (s.query !== null) twin.fromAlert = true;
      else if (twin.fromAlert && (s.name || s.labels.__name__)) Object.assign(twin, { what: describe(s), unit: twin.unit ?? s.unit });
      continue;
    }
    const scoredSeries: ScoredSeries = {
      service: serviceOfLabels(s.labels, serviceLabels),
      what: describe(s),
      unit: s.unit,
      labels: s.labels,
      fromAlert: s.query !== null,
      score,
    };
    seen.set(sig, scoredSeries);
    out.push(scoredSeries);
  }
  return out.sort((a, b) => b.score.z - a.score.z);
}

/** "p99 latency of checkout 2.8 s vs baseline 0.21 s (z=14), rising since 02:14 UTC" */
export function metricFindingText(s: ScoredSeries, now: Date): string {
  const qualifier = QUALIFIERS.map((q) => s.labels[q]).find((v) => v && v !== s.service);
  const subject = `${s.what} of ${s.service ?? 'an unlabelled series'}${qualifier ? ` (${qualifier})` : ''}`;
  const { z, peak, baseline, trend, changeAt } = s.score;
  const zText = z >= Z_CAP ? (baseline.scale === 0 ? 'baseline flat' : `z≥${Z_CAP}`) : `z=${z >= 10 ? Math.round(z) : z.toFixed(1)}`;
  const moved = trend !== 'flat' ? trend : s.score.direction;
  const since = changeAt !== undefined ? `${moved} since ${formatClock(changeAt, now)}` : trend !== 'flat' ? trend : '';
  return `${subject} ${formatValue(peak, s.unit)} vs baseline ${formatValue(baseline.median, s.unit)} (${zText})${since ? `, ${since}` : ''}`;
}
