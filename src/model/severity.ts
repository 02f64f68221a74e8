/** Severity levels shared by routing, publishing and the record. */

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
