import { analyze } from '../../src/analyze';
import { DEFAULT_SERVICE_LABELS, serviceOfLabels } from '../../src/analyze/service';
import type { Analysis } from '../../src/model/analysis';
import { evidenceBundleSchema, type EvidenceBundle } from '../../src/model/evidence';
import type { IncidentBundle, IncidentKey } from './generate';

/**
 * Scoring the second generator's incidents: the product (analyze) and a metric-only BARO
 * baseline (Pham et al., FSE 2024: per series, median/IQR of the baseline, the largest robust
 * deviation in the incident window; a service ranks by its largest). Shared by
 * bench/eval-rca.ts and the CI test, so both count hits the same way.
 */

export interface Outcome {
  key: IncidentKey;
  /** Ranked service names. */
  ranked: string[];
  confidence?: Analysis['confidence'];
  /** The product's top suspect rests on one series and nothing else. */
  singleSeries?: boolean;
}

/** Rank (1-based) of the root cause among the names, or Infinity. */
export function rankOf(o: Outcome): number {
  const names = new Set([o.key.rootCause, ...o.key.aliases].filter((x): x is string => !!x));
  const i = o.ranked.findIndex((s) => names.has(s));
  return i < 0 ? Infinity : i + 1;
}

export function baro(bundle: EvidenceBundle): string[] {
  const incS = Date.parse(bundle.windows!.incidentStart) / 1000;
  const baseS = Date.parse(bundle.windows!.baselineStart) / 1000;
  const best = new Map<string, number>();
  for (const s of bundle.series) {
    const service = serviceOfLabels(s.labels, DEFAULT_SERVICE_LABELS);
    if (!service) continue;
    const base: number[] = [];
    const inc: number[] = [];
    for (const [t, raw] of s.values) {
      const v = Number(raw);
      if (!Number.isFinite(v)) continue;
      if (t >= baseS && t < incS) base.push(v);
      else if (t >= incS) inc.push(v);
    }
    if (base.length < 3 || inc.length === 0) continue;
    base.sort((a, b) => a - b);
    const q = (p: number) => {
      const pos = (base.length - 1) * p;
      const lo = Math.floor(pos);
      return base[lo]! + (base[Math.ceil(pos)]! - base[lo]!) * (pos - lo);
    };
    const med = q(0.5);
    // sklearn's RobustScaler uses a scale of 1 where the IQR is 0.
    const iqr = q(0.75) - q(0.25) || 1;
    const z = Math.max(...inc.map((v) => Math.abs(v - med) / iqr));
    best.set(service, Math.max(best.get(service) ?? 0, z));
  }
  return [...best].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([s]) => s);
}

export function evaluate(bundles: readonly IncidentBundle[]): { product: Outcome[]; baro: Outcome[] } {
  const product: Outcome[] = [];
  const base: Outcome[] = [];
  for (const raw of bundles) {
    const bundle = evidenceBundleSchema.parse(raw);
    const a = analyze(bundle);
    const top = a.suspects[0];
    product.push({
      key: raw.scenario,
      ranked: a.suspects.map((s) => s.service),
      confidence: a.confidence,
      singleSeries: top ? (top.signals ?? []).length === 1 && top.signals![0]!.kind === 'metric' && top.signals![0]!.count === 1 : false,
    });
    base.push({ key: raw.scenario, ranked: baro(bundle) });
  }
  return { product, baro: base };
}

export interface Figures {
  n: number;
  ac1: number;
  ac3: number;
  avg5: number;
}

export function figures(outcomes: readonly Outcome[]): Figures {
  const faults = outcomes.filter((o) => o.key.rootCause !== null);
  const n = faults.length;
  const ac = (k: number) => (n ? faults.filter((o) => rankOf(o) <= k).length / n : 0);
  return { n, ac1: ac(1), ac3: ac(3), avg5: (ac(1) + ac(2) + ac(3) + ac(4) + ac(5)) / 5 };
}
