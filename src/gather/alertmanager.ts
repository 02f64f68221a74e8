import { z } from 'zod';
import { httpRequest, parseJsonBody, splitCredentials } from '../clients/http';
import type { OtherAlert } from '../model/context';
import { remaining } from './budget';
import type { GatherRequest, Source, SourceResult } from './source';

/**
 * Other alerts firing now (issue 12 item 4): Alertmanager API v2
 * `GET /api/v2/alerts?active=true&silenced=false&inhibited=false`, less the group's own alerts.
 * Which of them touch the alert's services is for analyze to say.
 */

const alertsSchema = z.array(
  z.looseObject({
    labels: z.record(z.string(), z.string()),
    startsAt: z.string(),
    fingerprint: z.string(),
  }),
);

/** Kept per group: a storm of thousands of alerts must not fill the bundle. */
const MAX_OTHER_ALERTS = 200;

export interface AlertmanagerSourceOptions {
  /** ALERTMANAGER_URL; credentials in it are sent as basic auth. */
  url: string;
  serviceLabels: readonly string[];
  timeoutMs: number;
}

export class AlertmanagerSource implements Source {
  readonly name = 'alertmanager' as const;
  private readonly base: string;
  private readonly headers: Record<string, string>;
  constructor(private readonly opts: AlertmanagerSourceOptions) {
    const { url, headers } = splitCredentials(opts.url);
    this.base = url.replace(/\/+$/, '');
    this.headers = headers;
  }

  async gather(req: GatherRequest, signal: AbortSignal): Promise<SourceResult> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const params = new URLSearchParams({ active: 'true', silenced: 'false', inhibited: 'false' });
    const res = await httpRequest('alertmanager', {
      url: `${this.base}/api/v2/alerts?${params.toString()}`,
      headers: this.headers,
      timeoutMs: remaining(deadline),
      signal,
    });
    const own = new Set(req.payload.alerts.map((a) => a.fingerprint));
    const endMs = req.windows.end.getTime();
    const otherAlerts: OtherAlert[] = [];
    for (const a of parseJsonBody('alertmanager', res, alertsSchema)) {
      const t = Date.parse(a.startsAt);
      if (own.has(a.fingerprint) || Number.isNaN(t) || t > endMs) continue;
      const service = this.opts.serviceLabels.map((l) => a.labels[l]).find((v) => !!v);
      otherAlerts.push({
        alertname: a.labels.alertname ?? 'unnamed',
        ...(service ? { service } : {}),
        startsAt: new Date(t).toISOString(),
        ...(a.labels.severity ? { severity: a.labels.severity } : {}),
        fingerprint: a.fingerprint,
      });
    }
    otherAlerts.sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt) || a.alertname.localeCompare(b.alertname));
    const cut = otherAlerts.length > MAX_OTHER_ALERTS;
    return {
      otherAlerts: otherAlerts.slice(0, MAX_OTHER_ALERTS),
      ...(cut ? { partial: `${otherAlerts.length} alerts firing; kept the first ${MAX_OTHER_ALERTS}` } : {}),
    };
  }
}
