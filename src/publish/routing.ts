import type { AnnotationRecord } from '../model/record';
import { atLeast, normaliseSeverity, SEVERITIES, type Severity } from '../model/severity';

/**
 * Which targets get which alerts. Routing is by severity: a target receives the records
 * whose severity is at or above its minimum (SLACK_MIN_SEVERITY, PAGERDUTY_MIN_SEVERITY).
 */

export { SEVERITIES, normaliseSeverity, atLeast, type Severity } from '../model/severity';

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
