import type { EvidenceBundle } from '../model/evidence';
import type { Finding } from '../model/analysis';
import { formatClock } from './format';
import { serviceOfLabels } from './service';

/**
 * How much of each window the evidence actually covers (issue 12 item 10). A service deployed
 * three minutes ago has three minutes of baseline, whatever the nominal window says: rates and
 * scores are computed over the covered time, and a baseline too short to compare against is
 * said in a finding instead of producing a ratio.
 */

/** A baseline shorter than this (or half the nominal window, when that is less) is too short to score against. */
const MIN_BASELINE_S = 600;

export interface Coverage {
  baselineStartS: number;
  incidentStartS: number;
  /** The shortest baseline worth comparing against, in seconds. */
  minBaselineS: number;
  /** Service -> unix seconds of its earliest data point or log line in the windows. */
  firstDataS: Map<string, number>;
}

export function measureCoverage(bundle: EvidenceBundle, baseS: number, incS: number, serviceLabels: readonly string[]): Coverage {
  const firstDataS = new Map<string, number>();
  const note = (service: string | undefined, t: number): void => {
    if (!service || t < baseS) return;
    const cur = firstDataS.get(service);
    if (cur === undefined || t < cur) firstDataS.set(service, t);
  };
  for (const s of bundle.series) {
    const service = serviceOfLabels(s.labels, serviceLabels);
    const first = s.values.find(([t, v]) => t >= baseS && Number.isFinite(Number(v)));
    if (first) note(service, first[0]);
  }
  for (const l of bundle.logs) {
    const service = serviceOfLabels(l.labels, serviceLabels) ?? 'unknown';
    for (const [ns] of l.values) {
      const t = Number(ns.length > 9 ? ns.slice(0, ns.length - 9) : '0');
      if (t >= baseS) {
        note(service, t);
        break;
      }
    }
  }
  return { baselineStartS: baseS, incidentStartS: incS, minBaselineS: Math.min(MIN_BASELINE_S, (incS - baseS) / 2), firstDataS };
}

/** Seconds of baseline the service's data covers (the nominal window when nothing is known of it). */
export function baselineCoveredS(c: Coverage, service: string | undefined): number {
  const first = service !== undefined ? c.firstDataS.get(service) : undefined;
  return Math.max(0, c.incidentStartS - Math.max(c.baselineStartS, first ?? c.baselineStartS));
}

export function isBaselineShort(c: Coverage, service: string | undefined): boolean {
  return baselineCoveredS(c, service) < c.minBaselineS;
}

function minutes(s: number): string {
  const m = s / 60;
  return m >= 10 ? String(Math.round(m)) : String(Math.round(m * 10) / 10);
}

/** "baseline: 2.5 min of data for checkout …" for each alerting service whose baseline is short. */
export function coverageFindings(c: Coverage, alerting: ReadonlySet<string>, now: Date): Omit<Finding, 'id'>[] {
  const out: Omit<Finding, 'id'>[] = [];
  const nominal = minutes(c.incidentStartS - c.baselineStartS);
  for (const service of [...alerting].sort()) {
    if (!isBaselineShort(c, service)) continue;
    const covered = baselineCoveredS(c, service);
    const first = c.firstDataS.get(service);
    const text =
      covered <= 0
        ? `baseline: no data for ${service} before the incident window (${first !== undefined ? `its data starts at ${formatClock(first, now)}` : 'no data at all'}); nothing to compare against, so no scores or rates`
        : `baseline: ${minutes(covered)} min of data for ${service} (since ${formatClock(first!, now)}, of a ${nominal} min window); too short to score against, so no rates or scores from it`;
    out.push({ kind: 'coverage', service, text });
  }
  return out;
}
