import type { Series } from '../model/evidence';
import { formatClock, formatValue } from './format';
import { serviceOfLabels } from './service';
import { baselineOf, robustZ, scoreSeries, Z_CAP, type SeriesScore } from './stats';

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
  /**
   * A symptom (latency, errors, traffic: what callers feel) rather than a resource or a cause
   * (CPU, memory, a pool, retransmits): symptoms travel up a call graph, causes stay put.
   */
  symptom: boolean;
  /** Set when the shift began before the incident window: unix seconds of its onset. */
  beganAt?: number;
  /** The sample Prometheus shows at startsAt (at or nearest before it, else the first after): [unix s, value]. */
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
  /** Why it has no score: no baseline, or the same value all through both windows. */
  flat?: boolean;
}

export interface ScoreOptions {
  /** startsAt (unix s): the alert expression is reported at this point. */
  anchorS?: number;
  /** Where the baseline window begins (unix s), and the shortest covered baseline that is scored. */
  baselineStartS?: number;
  minBaselineS?: number;
  /** Alert expressions left unscored for want of a baseline are appended here. */
  unscored?: UnscoredAlertSeries[];
  /** The query step (stepOf), when the caller has it already. */
  stepS?: number;
}

/** Prometheus' lookback: an instant query shows the latest sample at most this old. */
const LOOKBACK_S = 300;

/**
 * The sample Prometheus shows at startsAt: the one at it or the nearest before it (within the
 * lookback), as an instant query there would answer; else, with none, the first after it.
 */
function sampleAt(pts: readonly (readonly [number, number])[], t: number): readonly [number, number] | undefined {
  let before: readonly [number, number] | undefined;
  for (const p of pts) {
    if (p[0] > t) return before && t - before[0] <= LOOKBACK_S ? before : p;
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

const SYMPTOM = /latenc|duration|response|error|fail|5xx|success|request|rps|throughput|apdex|availab/i;
const RESOURCE = /memory|mem_|heap|cpu|disk|filesystem|fs_|gc|pool|thread|connection|queue|restart|retrans|throttl|inode|swap/i;

/** Latency, errors, traffic: a symptom. An unnamed alert expression is one unless its query reads as a resource. */
function isSymptom(what: string, query: string | null): boolean {
  if (SYMPTOM.test(what)) return true;
  if (what === 'alert expression' || what === 'series') return !RESOURCE.test(query ?? '');
  return false;
}

/**
 * Series that record a change rather than a condition (a process start time, a restart count,
 * a build-info or version series): their jump is an event for the change source to report, not a score.
 */
const CHANGE_SERIES = /start.?time|build.?info|_info$|\bversion\b|restart/i;

/** Shorter onsets than this before the incident window are still part of it. */
const EARLY_S = 20 * 60;

/**
 * When a shift began before the incident window: the late baseline (its last 20 minutes)
 * already sits where the incident is, measured against the early baseline. Returns the onset
 * (first of three consecutive shifted points), or undefined for a change inside the window.
 */
function earlyOnset(base: readonly Point[], incidentStartS: number, score: SeriesScore): number | undefined {
  const early = base.filter((p) => p[0] < incidentStartS - EARLY_S);
  const late = base.filter((p) => p[0] >= incidentStartS - EARLY_S);
  if (early.length < 8 || late.length < 4) return undefined;
  const eb = baselineOf(early.map((p) => p[1]));
  const sign = score.direction === 'up' ? 1 : -1;
  const shifted = (v: number) => sign * (v - eb.median) > 0 && robustZ(v, eb) >= 3;
  const lateMedian = Float64Array.from(late.map((p) => p[1])).sort()[Math.floor(late.length / 2)]!;
  if (!shifted(lateMedian) || robustZ(lateMedian, eb) < 0.4 * robustZ(score.peak, eb)) return undefined;
  for (let i = 0; i + 2 < base.length; i++)
    if (base[i]![0] >= incidentStartS - EARLY_S - 1800 && [0, 1, 2].every((k) => shifted(base[i + k]![1]))) return base[i]![0];
  return undefined;
}

type Point = readonly [number, number];

/** The query step: the smallest median gap between samples over all series. */
export function stepOf(series: readonly Series[]): number {
  let best = Infinity;
  for (const s of series) {
    if (s.values.length < 3) continue;
    const gaps = s.values.slice(1).map((v, i) => v[0] - s.values[i]![0]);
    const m = Float64Array.from(gaps).sort()[Math.floor(gaps.length / 2)]!;
    if (m > 0 && m < best) best = m;
  }
  return best;
}

/**
 * Node-wide series a pod-level query repeats on every pod of the node (the same values under
 * each pod's service): attributed once, to the node, not to each service on it.
 */
function nodeWide(series: readonly Series[], serviceLabels: readonly string[]): Map<Series, string | null> {
  const groups = new Map<string, Series[]>();
  for (const s of series) {
    if (s.query !== null || s.values.length < 5) continue;
    const key = `${describe(s)}|${s.values.map((v) => v[1]).join(',')}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const out = new Map<Series, string | null>();
  for (const list of groups.values()) {
    const services = new Set(list.map((s) => serviceOfLabels(s.labels, serviceLabels)));
    if (list.length < 2 || services.size < 2) continue;
    const place = list[0]!.labels.node ?? list[0]!.labels.instance ?? list[0]!.labels.host;
    list.forEach((s, i) => out.set(s, i === 0 && place ? place : null));
  }
  return out;
}

/**
 * A node exporter's series (node_cpu_seconds_total, "node cpu busy") joined onto a pod's labels
 * measures the node, not the pod's service: it is attributed to the node its labels name.
 */
function nodeOf(s: Series): string | undefined {
  if (s.query !== null || !/^node[_ ]/i.test(describe(s))) return undefined;
  return s.labels.node ?? s.labels.host;
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
  const step = opts.stepS ?? stepOf(series);
  // Where the data ends (a bundle analysed late holds no samples past its recording).
  const lastS = Math.max(...series.map((s) => s.values.at(-1)?.[0] ?? -Infinity));
  const wide = nodeWide(series, serviceLabels);
  for (const s of series) {
    const place = wide.get(s) ?? nodeOf(s);
    if (place === null || CHANGE_SERIES.test(describe(s))) continue;
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
    // Mostly missing rows: too few samples for the time they span say nothing reliable.
    const sparse =
      Number.isFinite(step) &&
      s.query === null &&
      (base.length < 0.5 * (covered / step) || inc.length < 0.5 * ((Math.min(endS, lastS) - incidentStartS) / step));
    let score = enough && !sparse ? scoreSeries(base, inc) : undefined;
    // Constant in both windows, or zero everywhere: uninformative.
    const flat = !!score && score.z === 0 && score.baseline.scale === 0;
    if (flat) score = undefined;
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
          ...(flat ? { flat } : {}),
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
      } else if (twin.fromAlert && (s.name || s.labels.__name__))
        Object.assign(twin, { what: describe(s), unit: twin.unit ?? s.unit, symptom: isSymptom(describe(s), null) });
      continue;
    }
    const what = describe(s);
    const beganAt = score.z >= METRIC_MIN_Z ? earlyOnset(base, incidentStartS, score) : undefined;
    const scoredSeries: ScoredSeries = {
      service: place ?? serviceOfLabels(s.labels, serviceLabels),
      what,
      unit: s.unit,
      labels: place ? { node: place } : s.labels,
      fromAlert: s.query !== null,
      score,
      symptom: isSymptom(what, s.query),
      ...(beganAt !== undefined ? { beganAt } : {}),
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
  const head = `${subjectOf(s)} ${formatValue(s.atStart[1], s.unit)} at ${formatClock(s.atStart[0], now)} (startsAt)`;
  return s.flat
    ? `${head}, the same value all through its baseline`
    : `${head}; no baseline to compare against (data since ${formatClock(s.firstS, now)})`;
}
