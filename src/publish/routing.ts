import type { AnnotationRecord } from '../model/record';

/**
 * Which targets get which alerts. Routing is by severity: a target receives the records
 * whose severity is at or above its minimum (SLACK_MIN_SEVERITY, PAGERDUTY_MIN_SEVERITY).
 */

/** The four levels PagerDuty's Events API v2 knows, lowest first; every other scale maps onto them. */
export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * Common spellings of `severity` labels in the wild. A label we do not recognise counts as
 * `warning`: loud enough for chat, not loud enough to page someone by surprise.
 */
const ALIASES: Record<string, Severity> = {
  critical: 'critical',
  crit: 'critical',
  page: 'critical',
  fatal: 'critical',
  emergency: 'critical',
  p1: 'critical',
  sev1: 'critical',
  error: 'error',
  err: 'error',
  high: 'error',
  major: 'error',
  p2: 'error',
  sev2: 'error',
  warning: 'warning',
  warn: 'warning',
  medium: 'warning',
  minor: 'warning',
  p3: 'warning',
  sev3: 'warning',
  info: 'info',
  informational: 'info',
  low: 'info',
  none: 'info',
  notice: 'info',
  debug: 'info',
  p4: 'info',
  p5: 'info',
};

export function normaliseSeverity(raw: string | undefined): Severity {
  const key = (raw ?? '').trim().toLowerCase();
  if (key === '') return 'info';
  return ALIASES[key] ?? 'warning';
}

export function atLeast(severity: string | undefined, min: Severity): boolean {
  return SEVERITIES.indexOf(normaliseSeverity(severity)) >= SEVERITIES.indexOf(min);
}

/** The records a target with this minimum severity should see. */
export function routeRecords<R extends Pick<AnnotationRecord, 'severity'>>(records: readonly R[], min: Severity): R[] {
  return records.filter((r) => atLeast(r.severity, min));
}

/** The highest severity among records (info when there are none). */
export function highestSeverity(records: readonly Pick<AnnotationRecord, 'severity'>[]): Severity {
  let best = 0;
  for (const r of records) best = Math.max(best, SEVERITIES.indexOf(normaliseSeverity(r.severity)));
  return SEVERITIES[best] ?? 'info';
}
