import { z } from 'zod';
import { settleLimited } from '../clients/limit';
import { logqlString, type LokiClient } from '../clients/loki';
import { RECORD_JOB_LABEL } from '../model/record';
import type { Alert } from '../model/alert';

/** Loki rejects ranges longer than its max_query_length (721h by default). */
const MAX_LOOKBACK_MS = 720 * 3600 * 1000;
/**
 * Fingerprints per query (about 8.5 KB of regex in the URL) and queries in flight at once:
 * a 10,000-alert group is 20 queries, 4 at a time, well inside Loki's outstanding-request
 * limit per tenant (which answers 429 past it).
 */
const CHUNK = 500;
const CONCURRENCY = 4;
/** Loki's default max_entries_limit_per_query; a few records per alert fit many times over. */
const LINE_LIMIT = 5000;

type Identity = Pick<Alert, 'fingerprint' | 'startsAt' | 'status'>;

const recordIdentity = z.object({ fingerprint: z.string(), startsAt: z.string() });
const recordMessage = z.object({ groupKey: z.string(), slackTs: z.string().min(1), slackChannel: z.string().optional() });

/** The identity of an annotation: the same alert (fingerprint + startsAt) in one status. */
export function annotationKey(a: Identity): string {
  return `${a.fingerprint}@${a.startsAt}:${a.status}`;
}

/**
 * The durable half of dedup: asks Loki which of these alerts already have an annotation
 * record (fingerprint + startsAt + status). It survives a Redis flush or restart. One query
 * per status and per 500 alerts, not one per alert.
 */
export class LokiAnnotationIndex {
  constructor(
    private readonly client: LokiClient,
    private readonly timeoutMs = 5000,
  ) {}

  query(fingerprints: readonly string[], status: Alert['status']): string {
    const selector = `{job=${logqlString(RECORD_JOB_LABEL)}, status=${logqlString(status)}}`;
    // Records are written with JSON.stringify, so `"fingerprint":"<hex>"` appears exactly
    // like this in the line; fingerprints are hex, so they need no regex escaping.
    return `${selector} |~ ${logqlString(`"fingerprint":"(${fingerprints.join('|')})"`)}`;
  }

  /**
   * The Slack message (ts) the group's firing records name, newest first: after a Redis
   * flush it is how a resolve or a narration finds the message again instead of posting a
   * new one. Undefined when no record names one; throws when Loki cannot tell.
   */
  async slackTs(
    groupKey: string,
    alerts: readonly Pick<Alert, 'fingerprint' | 'startsAt'>[],
    signal?: AbortSignal,
  ): Promise<{ ts: string; channel?: string } | undefined> {
    const fingerprints = [...new Set(alerts.map((a) => a.fingerprint))].slice(0, CHUNK);
    if (fingerprints.length === 0) return undefined;
    const now = Date.now();
    const starts = alerts.map((a) => Date.parse(a.startsAt)).filter((t) => !Number.isNaN(t));
    const start = Math.max((starts.length ? Math.min(...starts) : now) - 10 * 60_000, now - MAX_LOOKBACK_MS);
    const streams = await this.client.queryRange(
      this.query(fingerprints, 'firing'),
      { start: new Date(start), end: new Date(now + 60_000), limit: 100, direction: 'backward' },
      signal,
      this.timeoutMs,
    );
    const lines = streams.flatMap((s) => s.values).sort((a, b) => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0));
    for (const [, line] of lines) {
      const r = recordMessage.safeParse(safeJson(line));
      if (r.success && r.data.groupKey === groupKey)
        return { ts: r.data.slackTs, ...(r.data.slackChannel ? { channel: r.data.slackChannel } : {}) };
    }
    return undefined;
  }

  /** The annotationKey of each alert that has a record; throws when Loki cannot tell. */
  async annotated(alerts: readonly Identity[], signal?: AbortSignal): Promise<Set<string>> {
    const found = new Set<string>();
    const wanted = new Set(alerts.map(annotationKey));
    const now = Date.now();
    const chunks: { status: Alert['status']; chunk: readonly Identity[] }[] = [];
    for (const status of ['firing', 'resolved'] as const) {
      const group = alerts.filter((a) => a.status === status);
      for (let i = 0; i < group.length; i += CHUNK) chunks.push({ status, chunk: group.slice(i, i + CHUNK) });
    }
    const results = await settleLimited(chunks, CONCURRENCY, async ({ status, chunk }) => {
      // Records are written at or after startsAt; look from a little before the earliest.
      // A startsAt that does not parse (never from a validated webhook) looks back the whole way.
      const earliest = chunk.reduce((m, a) => Math.min(m, Date.parse(a.startsAt) || 0), Infinity);
      const start = Math.max(earliest - 10 * 60_000, now - MAX_LOOKBACK_MS);
      const streams = await this.client.queryRange(
        this.query([...new Set(chunk.map((a) => a.fingerprint))], status),
        { start: new Date(start), end: new Date(now + 60_000), limit: LINE_LIMIT },
        signal,
        this.timeoutMs,
      );
      for (const s of streams) {
        for (const [, line] of s.values) {
          const r = recordIdentity.safeParse(safeJson(line));
          if (!r.success) continue;
          const key = annotationKey({ ...r.data, status });
          if (wanted.has(key)) found.add(key);
        }
      }
    });
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return found;
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
