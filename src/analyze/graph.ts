import type { ScoredSeries } from './metrics';

/**
 * The causal path of an alert (issue 12 items 1 and 2): what the alerting services call,
 * directly or not, in the service graph the traces show (traces.ts: `calls`), plus the callees
 * their failed-call logs name, plus the hosts those components run on. A component the graph
 * shows but the path does not reach is off the path; without a trace graph around the alerting
 * service, nothing is known to be off it (every component sharing the alert's labels may be).
 */

export type Position = 'on' | 'off' | 'unknown';

export interface CausalPath {
  /** A trace graph reaches out from an alerting service: positions off it are known. */
  informative: boolean;
  position(component: string): Position;
  /** Calls from the nearest alerting service (0 for it, and for components off the graph). */
  depth(component: string): number;
}

const withoutPort = (s: string): string => s.replace(/:\d+$/, '');

export function pathOf(
  calls: ReadonlyMap<string, ReadonlySet<string>>,
  mentioned: ReadonlyMap<string, ReadonlyMap<string, number>>,
  alerting: ReadonlySet<string>,
  scored: readonly ScoredSeries[],
): CausalPath {
  const informative = [...alerting].some((a) => (calls.get(a)?.size ?? 0) > 0);
  const next = (n: string): string[] => [...(calls.get(n) ?? []), ...(mentioned.get(n)?.keys() ?? [])];
  const depth = new Map<string, number>();
  const queue = [...alerting];
  for (const a of alerting) depth.set(a, 0);
  while (queue.length) {
    const n = queue.shift()!;
    for (const m of next(n)) {
      if (depth.has(m)) continue;
      depth.set(m, depth.get(n)! + 1);
      queue.push(m);
    }
  }
  // The hosts the path runs on, from the node/instance labels of its components' series.
  const hosts = new Set<string>();
  const neighbours = new Set<string>();
  const placeOf = (s: ScoredSeries) => s.labels.node ?? s.labels.host;
  for (const s of scored) {
    const place = placeOf(s);
    if (s.service && place && depth.has(s.service)) hosts.add(withoutPort(place));
  }
  for (const s of scored) {
    const place = placeOf(s);
    if (s.service && place && hosts.has(withoutPort(place)) && !depth.has(s.service)) neighbours.add(s.service);
  }
  const position = (c: string): Position => {
    if (depth.has(c) || hosts.has(withoutPort(c))) return 'on';
    if (!informative || neighbours.has(c)) return 'unknown';
    return 'off';
  };
  return { informative, position, depth: (c) => depth.get(c) ?? 0 };
}
