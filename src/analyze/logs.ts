import type { LogStream } from '../model/evidence';
import { DrainMiner, templateText, type DrainOptions } from './drain';
import { serviceOfLabels } from './service';

/** A pattern needs this many incident lines before it counts as evidence. */
const LOG_MIN_COUNT = 5;
/** …and an incident rate this many times its (smoothed) baseline rate. */
const LOG_MIN_RATIO = 4;

export interface LogPattern {
  service: string;
  template: string;
  incidentCount: number;
  baselineCount: number;
  /** Unix seconds of the first incident line. */
  firstSeen?: number;
  /** Never seen in the baseline window. */
  isNew: boolean;
  /** Incident rate over baseline rate, with one pseudo-line added to the baseline. */
  ratio: number;
  /** log2(ratio), damped for small counts; 0 when the pattern is not anomalous. */
  strength: number;
  /**
   * Some of its incident-window lines as written (at most SAMPLE_LINES, spread over the window):
   * where Drain folded the callee of a failed call into <*>, the lines still name it. Internal:
   * never quoted in a finding.
   */
  samples?: string[];
}

const SAMPLE_LINES = 24;

/**
 * Mines each service's lines (both windows, in time order, one miner per service) and
 * compares per-template counts of the incident window with the baseline window.
 */
export function minePatterns(
  streams: readonly LogStream[],
  incidentStartS: number,
  endS: number,
  baselineStartS: number,
  serviceLabels: readonly string[],
  drain: DrainOptions = {},
  /** Where a line limit cut each window (unix seconds): earlier lines are left out of both counts and durations. */
  cut: { baselineFromS?: number; incidentFromS?: number } = {},
  /**
   * What the data of each service really covers (coverage.ts): its baseline rate is taken over
   * the time since its first data point, and a baseline shorter than `minBaselineS` gives no ratio.
   */
  covered: { firstDataS?: ReadonlyMap<string, number>; minBaselineS?: number } = {},
): LogPattern[] {
  const baseFromS = Math.max(baselineStartS, cut.baselineFromS ?? -Infinity);
  const incFromS = Math.max(incidentStartS, cut.incidentFromS ?? -Infinity);
  const byService = new Map<string, { t: number; line: string }[]>();
  for (const s of streams) {
    const service = serviceOfLabels(s.labels, serviceLabels) ?? 'unknown';
    let list = byService.get(service);
    if (!list) byService.set(service, (list = []));
    for (const [ns, line] of s.values) {
      // Nanosecond strings exceed 2^53; seconds precision is all a window needs.
      const t = Number(ns.length > 9 ? ns.slice(0, ns.length - 9) : '0');
      if (t > endS || (t < incidentStartS && t < baseFromS) || (t >= incidentStartS && t < incFromS)) continue;
      list.push({ t, line });
    }
  }
  const incidentS = Math.max(60, endS - incFromS);
  const out: LogPattern[] = [];
  for (const [service, lines] of byService) {
    const coveredS = incidentStartS - Math.max(baseFromS, covered.firstDataS?.get(service) ?? baseFromS);
    const baselineS = Math.max(60, coveredS);
    // Minutes of baseline cannot say a pattern surges; a new one is still worth half.
    const short = coveredS < (covered.minBaselineS ?? 0);
    lines.sort((a, b) => a.t - b.t);
    const miner = new DrainMiner(drain);
    const stats = new Map<number, { base: number; inc: number; first?: number; samples: string[] }>();
    for (const { t, line } of lines) {
      const c = miner.add(line);
      let st = stats.get(c.id);
      if (!st) stats.set(c.id, (st = { base: 0, inc: 0, samples: [] }));
      if (t < incidentStartS) st.base++;
      else {
        st.inc++;
        st.first ??= t;
        // Every other line once the sample is full: a spread over the window, in bounded memory.
        if (st.samples.length < SAMPLE_LINES) st.samples.push(line);
        else if (st.inc % 2 === 0) st.samples[(st.inc / 2) % SAMPLE_LINES] = line;
      }
    }
    for (const c of miner.clusters()) {
      const st = stats.get(c.id);
      if (!st || st.inc === 0) continue;
      const ratio = st.inc / incidentS / ((st.base + 1) / baselineS);
      const anomalous = st.inc >= LOG_MIN_COUNT && ratio >= LOG_MIN_RATIO && (!short || st.base === 0);
      out.push({
        service,
        template: templateText(c),
        incidentCount: st.inc,
        baselineCount: st.base,
        firstSeen: st.first,
        isNew: st.base === 0,
        ratio,
        // A handful of lines is weaker evidence than a flood with the same ratio.
        strength: anomalous ? Math.min(6, Math.log2(ratio)) * Math.min(1, st.inc / 20) * (short ? 0.5 : 1) : 0,
        ...(anomalous ? { samples: st.samples } : {}),
      });
    }
  }
  return out.sort((a, b) => b.strength - a.strength || b.incidentCount - a.incidentCount);
}
