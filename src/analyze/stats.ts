/**
 * Robust statistics for one series (pure). The score follows BARO's robust scorer
 * (Pham et al., FSE 2024, https://arxiv.org/abs/2405.09330): deviation from the baseline
 * median in units of the baseline inter-quartile range, so one outlier in the baseline
 * cannot hide a fault and one outlier in the incident cannot fake one.
 */

/** Scores above this are reported as this: a constant baseline would give infinity. */
export const Z_CAP = 100;

/** Quantile with linear interpolation (type 7) of already sorted values. */
function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export interface Baseline {
  median: number;
  /** The spread used as the unit of the score; 0 only for a constant baseline. */
  scale: number;
  /**
   * The series' own resolution: the typical step between the distinct values it takes when it
   * takes few of them (a histogram quantile stuck at bucket edges, a counter of whole events);
   * 0 for a continuous series.
   */
  resolution?: number;
  /** Lowest and highest baseline value: a quantised series that leaves them has moved to a level it never took. */
  min?: number;
  max?: number;
}

/**
 * Median and scale of the baseline. IQR first; when it is 0 (a mostly flat series)
 * 1.4826 × MAD, then the standard deviation; 0 only when every value is equal.
 */
export function baselineOf(values: ArrayLike<number>): Baseline {
  // A typed array sorts numerically without a comparator call per pair.
  const sorted = Float64Array.from(values).sort();
  const median = quantileSorted(sorted, 0.5);
  let scale = quantileSorted(sorted, 0.75) - quantileSorted(sorted, 0.25);
  if (!(scale > 0)) {
    const dev = sorted.map((v) => Math.abs(v - median)).sort();
    scale = 1.4826 * quantileSorted(dev, 0.5);
  }
  if (!(scale > 0)) {
    const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
    scale = Math.sqrt(sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / sorted.length);
  }
  // Few distinct values: quantised (bucket edges, whole counts). Their steps are the resolution.
  const distinct = [...new Set(sorted)];
  let resolution = 0;
  if (distinct.length >= 2 && distinct.length <= Math.max(4, sorted.length * 0.1)) {
    const gaps = distinct.slice(1).map((v, i) => v - distinct[i]!);
    resolution = Float64Array.from(gaps).sort()[Math.floor(gaps.length / 2)]!;
  }
  return {
    median,
    scale: scale > 0 ? scale : 0,
    ...(resolution > 0 ? { resolution, min: sorted[0]!, max: sorted[sorted.length - 1]! } : {}),
  };
}

/** A flat or quantised baseline scores at most this by itself: a jump from a constant is a change, not proof. */
export const FLAT_Z_CAP = 6;

/**
 * |x − median| in units of the baseline's spread, capped. The unit never falls below the
 * series' own resolution; where the baseline is flat (no spread, or a spread under 1% of its
 * level, or quantised to a few values) the unit is also at least a tenth of the values compared,
 * so a jump off a constant or off a bucket edge reads as a relative change (at most
 * FLAT_Z_CAP), never as the infinite score a zero spread would give (issue 12 item 9).
 * A quantised series at a level its baseline never took (p99 stuck at the 0.25 s bucket edge,
 * now at 0.5 s) is not judged by its resolution: the step between the levels it flickered
 * across says how noisy it is within them, not how far a new level is.
 */
export function robustZ(x: number, b: Baseline): number {
  const d = Math.abs(x - b.median);
  if (d <= 1e-12 * Math.max(1, Math.abs(b.median))) return 0;
  const beyond = b.min !== undefined && b.max !== undefined && (x > b.max || x < b.min);
  const res = beyond ? 0 : (b.resolution ?? 0);
  const flat = b.scale <= 0.01 * Math.abs(b.median) || res > 0 || b.scale === 0 || beyond;
  if (!flat) return Math.min(Z_CAP, d / Math.max(b.scale, res));
  // Beyond its levels, a spread no wider than one step between them is the flicker across them too.
  const flicker = beyond && b.resolution !== undefined && b.scale <= b.resolution;
  const unit = Math.max(flicker ? 0 : b.scale, res, 0.1 * Math.max(Math.abs(b.median), Math.abs(x)));
  return Math.min(FLAT_Z_CAP, d / unit);
}

export type Direction = 'up' | 'down';
export type Trend = 'rising' | 'falling' | 'flat';

export interface SeriesScore {
  /** Robust score of the incident window (second-largest deviation: one spike is not a fault). */
  z: number;
  direction: Direction;
  baseline: Baseline;
  /** The incident value at the scored point, in the series' own unit. */
  peak: number;
  /** Unix seconds of the first point of the sustained shift, when there is one. */
  changeAt?: number;
  trend: Trend;
}

type Point = readonly [number, number];

/**
 * Scores the incident points against the baseline points. Returns undefined when either
 * window has too few points to say anything.
 */
export function scoreSeries(baselinePts: readonly Point[], incidentPts: readonly Point[]): SeriesScore | undefined {
  if (baselinePts.length < 3 || incidentPts.length < 1) return undefined;
  const baseline = baselineOf(baselinePts.map((p) => p[1]));
  // Score the second-largest deviation when there are enough points, so a single scrape
  // glitch does not become a finding.
  let first = -1;
  let second = -1;
  for (let i = 0; i < incidentPts.length; i++) {
    const d = Math.abs(incidentPts[i]![1] - baseline.median);
    if (first < 0 || d > Math.abs(incidentPts[first]![1] - baseline.median)) {
      second = first;
      first = i;
    } else if (second < 0 || d > Math.abs(incidentPts[second]![1] - baseline.median)) second = i;
  }
  // Persistence: with six points or more, the third-largest deviation, so a change must hold
  // over several samples before it scores.
  let peakIdx = incidentPts.length >= 4 ? second : first;
  if (incidentPts.length >= 6) {
    const byDev = incidentPts.map((p, i) => [Math.abs(p[1] - baseline.median), i] as const).sort((a, b) => b[0] - a[0]);
    peakIdx = byDev[2]![1];
  }
  const peakPt = incidentPts[peakIdx]!;
  const z = robustZ(peakPt[1], baseline);
  const direction: Direction = peakPt[1] - baseline.median >= 0 ? 'up' : 'down';
  const changeAt = z >= 3 ? changePoint(incidentPts, baseline, direction, z) : undefined;
  // The trend after the change tells a ramp (a leak, a filling disk) from a step (a deploy).
  const after = changeAt !== undefined ? incidentPts.filter((p) => p[0] >= changeAt) : incidentPts;
  return { z, direction, baseline, peak: peakPt[1], changeAt, trend: trendOf(after.length >= 3 ? after : incidentPts, baseline) };
}

/**
 * When the shift began: the earliest incident point that, with the point after it,
 * deviates in the scored direction by at least 3 baseline units (normal noise stays under
 * about 2). For a ramp that is where it leaves the noise, not where it crosses a threshold.
 */
export function changePoint(pts: readonly Point[], b: Baseline, dir: Direction, z: number): number | undefined {
  const threshold = Math.min(3, z);
  const shifted = (p: Point | undefined): boolean => {
    if (!p) return false;
    const d = dir === 'up' ? p[1] - b.median : b.median - p[1];
    return d > 0 && robustZ(p[1], b) >= threshold;
  };
  for (let i = 0; i < pts.length; i++) {
    if (shifted(pts[i]) && (i === pts.length - 1 || shifted(pts[i + 1]))) return pts[i]![0];
  }
  return undefined;
}

/**
 * Least-squares slope over the incident window, judged against the baseline spread: a
 * series is rising when the fitted line climbs by more than two baseline units across
 * the window.
 */
export function trendOf(pts: readonly Point[], b: Baseline): Trend {
  if (pts.length < 3) return 'flat';
  const n = pts.length;
  const t0 = pts[0]![0];
  let st = 0;
  let sv = 0;
  for (const [t, v] of pts) {
    st += t - t0;
    sv += v;
  }
  const mt = st / n;
  const mv = sv / n;
  let num = 0;
  let den = 0;
  for (const [t, v] of pts) {
    num += (t - t0 - mt) * (v - mv);
    den += (t - t0 - mt) ** 2;
  }
  if (den === 0) return 'flat';
  const rise = (num / den) * (pts[n - 1]![0] - t0);
  const unit = b.scale > 0 ? b.scale : Math.max(1e-12, Math.abs(b.median) * 0.01);
  if (rise > 2 * unit) return 'rising';
  if (rise < -2 * unit) return 'falling';
  return 'flat';
}
