import { Metrics } from '../../src/metrics';

/**
 * Small, deliberately partial readers of PromQL used to check that dashboards and rules only
 * name series the service exposes (test/grafana.test.ts, test/e2e-configs.test.ts).
 */

/** Metric names with their label matchers, and `by`/`without` labels, of one PromQL query. */
export function promqlNames(expr: string): { metrics: { name: string; labels: string[] }[]; grouping: string[] } {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const grouping = [...noStrings.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const stripped = noStrings.replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  const metrics: { name: string; labels: string[] }[] = [];
  const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);
  for (const m of stripped.matchAll(/([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?\s*(\()?/g)) {
    const [, name, matchers, call] = m;
    if (call || KEYWORDS.has(name!)) continue;
    metrics.push({ name: name!, labels: [...(matchers ?? '').matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!) });
  }
  return { metrics, grouping };
}

/** Series names /metrics exposes, with their label names (histograms as _bucket/_sum/_count). */
export function exposedSeries(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const metric of new Metrics({ defaultMetrics: false }).registry.getMetricsAsArray()) {
    const m = metric as unknown as { name: string; labelNames?: string[]; constructor: { name: string } };
    const labels = new Set(m.labelNames ?? []);
    if (m.constructor.name === 'Histogram') {
      out.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      out.set(`${m.name}_sum`, labels);
      out.set(`${m.name}_count`, labels);
    } else out.set(m.name, labels);
  }
  // Prometheus' own series of alerting rules (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/#inspecting-alerts-during-runtime);
  // severity is a label every example rule sets.
  out.set('ALERTS', new Set(['alertname', 'alertstate', 'severity', 'service', 'instance', 'job']));
  return out;
}
