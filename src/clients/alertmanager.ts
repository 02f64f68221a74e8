import { z } from 'zod';
import { httpRequest, parseJsonBody, splitCredentials } from './http';

/**
 * Alertmanager API v2 (https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml):
 * silences. 200 with `{silenceID}` on success, 400 with a text reason for a bad silence;
 * httpRequest classifies the rest like every outbound call.
 */

export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface SilenceRequest {
  matchers: Matcher[];
  startsAt: Date;
  endsAt: Date;
  createdBy: string;
  comment: string;
}

const createdSchema = z.object({ silenceID: z.string().min(1) });

export const silenceSchema = z.looseObject({
  id: z.string(),
  status: z.looseObject({ state: z.string() }),
  matchers: z.array(z.looseObject({ name: z.string(), value: z.string(), isRegex: z.boolean(), isEqual: z.boolean().optional() })),
  createdBy: z.string(),
  comment: z.string(),
  startsAt: z.string(),
  endsAt: z.string(),
});

/** Exact matchers for a label set (labels an alert carries are values, never patterns). */
export function exactMatchers(labels: Record<string, string>): Matcher[] {
  return Object.entries(labels)
    .filter(([k, v]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && v !== '')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ({ name, value, isRegex: false, isEqual: true }));
}

export class AlertmanagerClient {
  private readonly base: string;
  private readonly auth: Record<string, string>;
  constructor(opts: { url: string; timeoutMs?: number }) {
    const { url, headers } = splitCredentials(opts.url);
    this.base = url.replace(/\/+$/, '');
    this.auth = headers;
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }
  private readonly timeoutMs: number;

  /** POST /api/v2/silences; resolves with the new silence's id. */
  async createSilence(s: SilenceRequest, signal?: AbortSignal): Promise<string> {
    const res = await httpRequest('alertmanager', {
      method: 'POST',
      url: `${this.base}/api/v2/silences`,
      headers: this.auth,
      body: {
        matchers: s.matchers,
        startsAt: s.startsAt.toISOString(),
        endsAt: s.endsAt.toISOString(),
        createdBy: s.createdBy,
        comment: s.comment,
      },
      timeoutMs: this.timeoutMs,
      signal,
    });
    return parseJsonBody('alertmanager', res, createdSchema).silenceID;
  }
}
