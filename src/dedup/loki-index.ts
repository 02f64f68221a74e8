import { logqlString, type LokiClient } from '../clients/loki';
import { RECORD_JOB_LABEL } from '../publish/loki';
import type { Alert } from '../receive/schema';

/** Loki rejects ranges longer than its max_query_length (721h by default). */
const MAX_LOOKBACK_MS = 720 * 3600 * 1000;

/**
 * The durable half of dedup: asks Loki whether an annotation record for this alert
 * (fingerprint + startsAt + status) exists. It survives a Redis flush or restart.
 */
export class LokiAnnotationIndex {
  constructor(
    private readonly client: LokiClient,
    private readonly timeoutMs = 5000,
  ) {}

  query(alert: Pick<Alert, 'fingerprint' | 'startsAt' | 'labels'>, status: Alert['status']): string {
    const selector = `{job=${logqlString(RECORD_JOB_LABEL)}, status=${logqlString(status)}}`;
    // Two line filters narrow to the exact alert before any parsing; records are written
    // with JSON.stringify, so the key/value pairs appear exactly like this in the line.
    const fp = logqlString(`"fingerprint":${JSON.stringify(alert.fingerprint)}`);
    const starts = logqlString(`"startsAt":${JSON.stringify(alert.startsAt)}`);
    return `${selector} |= ${fp} |= ${starts}`;
  }

  /** true / false, or throws when Loki cannot tell (the caller decides what an outage means). */
  async exists(alert: Pick<Alert, 'fingerprint' | 'startsAt' | 'labels'>, status: Alert['status'], signal?: AbortSignal): Promise<boolean> {
    const now = Date.now();
    // Records are written at or after startsAt; look from a little before it.
    const start = Math.max(Date.parse(alert.startsAt) - 10 * 60_000, now - MAX_LOOKBACK_MS);
    const streams = await this.client.queryRange(
      this.query(alert, status),
      { start: new Date(start), end: new Date(now + 60_000), limit: 1 },
      signal,
      this.timeoutMs,
    );
    return streams.some((s) => s.values.length > 0);
  }
}
