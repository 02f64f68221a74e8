/**
 * Attribution of evidence to a service through its labels, whatever exporter produced it
 * (docs/architecture.md: "metric-agnostic … as BARO does"). The label order is configurable (SERVICE_LABELS).
 */

export const DEFAULT_SERVICE_LABELS: readonly string[] = ['service', 'service_name', 'app', 'job', 'container'];

/** Labels that name where a series lives when nothing names a service: a host or a pod is a suspect too. */
const PLACE_LABELS: readonly string[] = ['pod', 'node', 'instance', 'host'];

export function parseServiceLabels(csv: string | undefined): string[] {
  const list = (csv ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return list.length ? list : [...DEFAULT_SERVICE_LABELS];
}

export function serviceOfLabels(labels: Readonly<Record<string, string>>, serviceLabels: readonly string[]): string | undefined {
  for (const name of serviceLabels) {
    const v = labels[name];
    if (v) return v;
  }
  for (const name of PLACE_LABELS) {
    const v = labels[name];
    if (v) return v;
  }
  return undefined;
}
