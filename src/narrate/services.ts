import type { Alert } from '../model/alert';

/** The service an alert is about, from the usual labels (SERVICE_LABELS' default order). */
export function serviceOf(alert: Pick<Alert, 'labels'>): string | undefined {
  const l = alert.labels;
  return l.service ?? l.service_name ?? l.app ?? l.job ?? l.container;
}
