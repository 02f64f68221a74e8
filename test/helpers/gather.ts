import pino from 'pino';
import type { GatherRequest } from '../../src/gather/source';
import { alertWindows } from '../../src/model/window';
import { webhookPayloadSchema, type WebhookPayload } from '../../src/model/alert';

/** A firing alert that started `minutesAgo` before `now`, as Alertmanager 0.25 sends it. */
export function firingPayload(
  now: Date,
  labels: Record<string, string>,
  opts: { minutesAgo?: number; expr?: string } = {},
): WebhookPayload {
  const startsAt = new Date(now.getTime() - (opts.minutesAgo ?? 2) * 60_000).toISOString();
  const expr = opts.expr ?? 'demo_toggle == 1';
  return webhookPayloadSchema.parse({
    version: '4',
    groupKey: `{}:{alertname="${labels.alertname ?? 'TestAlert'}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'annotator',
    groupLabels: { alertname: labels.alertname ?? 'TestAlert' },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: 'http://127.0.0.1:19093',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'TestAlert', ...labels },
        annotations: { summary: 'test' },
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: `http://127.0.0.1:19090/graph?g0.expr=${encodeURIComponent(expr)}&g0.tab=1`,
        fingerprint: 'ca1e646dc11e4a70',
      },
    ],
  });
}

export function gatherRequest(payload: WebhookPayload, now: Date): GatherRequest {
  const alerts = payload.alerts.filter((a) => a.status === 'firing');
  return { payload, alerts, now, windows: alertWindows(alerts, now), log: pino({ level: 'silent' }) };
}

export const never = (): AbortSignal => new AbortController().signal;
