import { MAX_LABEL_VALUE, type LokiClient } from '../clients/loki';
import { recordLabels, type AnnotationRecord } from '../model/record';
import { eventId, whileHeld, type HeldLock, type PublishState } from './state';
import type { PublishEvent, PublishResult, Publisher } from './types';

const TARGET = 'loki';

/** Loki's default `max_line_size` (limits_config): 256 KB. */
export const DEFAULT_MAX_LINE_BYTES = 256 * 1024;

/** What dedup finds a record by, and what says what it is: never cut. */
const KEPT = new Set([
  ...['fingerprint', 'startsAt', 'endsAt', 'status', 'alertname', 'severity', 'annotatedAt'],
  ...['traceId', 'narrator', 'promptVersion', 'confidence', 'slackTs', 'slackChannel', 'truncated'],
]);

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '');

interface Candidate {
  path: string;
  size: number;
  shrink(excess: number): void;
}

/** The fields that may be cut, biggest first: top-level strings and arrays, and each label value. */
function candidates(r: Record<string, unknown>): Candidate[] {
  const out: Candidate[] = [];
  const str = (path: string, get: () => string, set: (v: string) => void) => {
    const size = bytes(get());
    out.push({
      path,
      size,
      // Keep the share of the string that fits (JSON escapes make it longer than its length).
      shrink: (excess) => set(get().slice(0, Math.max(0, Math.floor(get().length * (1 - (excess + 64) / size)))) + '…'),
    });
  };
  for (const [k, v] of Object.entries(r)) {
    if (KEPT.has(k)) continue;
    if (typeof v === 'string')
      str(
        k,
        () => r[k] as string,
        (x) => (r[k] = x),
      );
    else if (Array.isArray(v)) out.push({ path: k, size: bytes(v), shrink: () => (r[k] = v.slice(0, Math.floor(v.length / 2))) });
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const [lk, lv] of Object.entries(o)) {
        if (typeof lv === 'string' && !(k === 'labels' && lk === 'alertname'))
          str(
            `${k}.${lk}`,
            () => o[lk] as string,
            (x) => (o[lk] = x),
          );
      }
    }
  }
  return out.filter((c) => c.size > 2).sort((a, b) => b.size - a.size);
}

/**
 * The record as one Loki line of at most `maxBytes`: the biggest fields are cut first (a
 * long label value, the findings), and `truncated` names every field cut, so a reader knows
 * the record is not whole. What identifies the alert is never cut. Stream label values over
 * Loki's limit are clipped by the client; they are named here as `stream.<label>`.
 */
export function fitRecord(record: AnnotationRecord, maxBytes: number): string {
  const truncated = new Set<string>((record.truncated as string[] | undefined) ?? []);
  for (const [k, v] of Object.entries(recordLabels(record))) if (v.length > MAX_LABEL_VALUE) truncated.add(`stream.${k}`);
  const whole = JSON.stringify(truncated.size ? { ...record, truncated: [...truncated] } : record);
  if (Buffer.byteLength(whole) <= maxBytes) return whole;
  const cut = structuredClone(record) as Record<string, unknown>;
  // Room for the marker itself, which names every field cut (at most MAX_NAMED of them).
  const budget = maxBytes - 512 - MAX_NAMED * 48;
  // Each round cuts the biggest field down to what fits or to nothing, so the rounds are
  // bounded by the number of fields; many medium fields (hundreds of labels, each under the
  // webhook's 4 KiB cap) need as many rounds as there are fields.
  for (;;) {
    const size = bytes(cut);
    if (size <= budget) break;
    const [biggest] = candidates(cut).filter((c) => c.size > 8);
    if (!biggest) break;
    biggest.shrink(size - budget);
    truncated.add(biggest.path);
  }
  const named = [...truncated];
  cut.truncated = named.length > MAX_NAMED ? [...named.slice(0, MAX_NAMED), `…and ${named.length - MAX_NAMED} more`] : named;
  const line = JSON.stringify(cut);
  if (Buffer.byteLength(line) <= maxBytes) return line;
  // Nothing left to cut and still too big (a limit smaller than what identifies the alert):
  // the fields dedup needs and the marker, never a line Loki refuses.
  const kept = Object.fromEntries(Object.entries(record).filter(([k]) => KEPT.has(k)));
  return JSON.stringify({ ...kept, labels: { alertname: record.labels.alertname }, truncated: ['record'] });
}

/** How many cut fields the marker names; past it, it says how many more. */
const MAX_NAMED = 50;

/** Loki refuses an entry over an hour behind its stream's newest; a record older than this is written at now. */
const MAX_RECORD_AGE_MS = 30 * 60_000;

/**
 * The entry's time: when the record was made (annotatedAt), so that pushing the same record
 * again (a retry whose delivered marker was lost with Redis) repeats time and line, and Loki
 * keeps one. A record older than MAX_RECORD_AGE_MS (a long Loki outage) goes in at now.
 */
function entryTime(record: AnnotationRecord): { tsNs?: bigint } {
  const at = Date.parse(record.annotatedAt);
  const now = Date.now();
  if (Number.isNaN(at) || at > now || now - at > MAX_RECORD_AGE_MS) return {};
  return { tsNs: BigInt(at) * 1_000_000n };
}

/**
 * Writes each annotation record as one JSON line, one push per record, each cut to fit
 * Loki's line limit. A record pushed is marked delivered in the publish state (per event kind
 * and alert), so a retry or a second run of a stalled job does not push it again. With a
 * publish state the pushes of a group run under its 'loki' lock, and each push leaves only
 * while that lock's lease runs: a worker paused after it read "not delivered yet" (the
 * answer waiting in its socket while another worker took the job over and pushed) finds its
 * lease gone when it runs again, and pushes nothing.
 */
export class LokiPublisher implements Publisher {
  readonly name = 'loki' as const;
  constructor(
    private readonly client: LokiClient,
    private readonly opts: { state?: PublishState; maxLineBytes?: number } = {},
  ) {}

  async publish(event: PublishEvent, signal: AbortSignal): Promise<PublishResult> {
    const state = this.opts.state;
    const pushed = state
      ? await state.withLock(event.payload.groupKey, TARGET, signal, (lock) => this.pushAll(event, signal, state, lock))
      : await this.pushAll(event, signal);
    return { target: this.name, published: pushed > 0 };
  }

  private async pushAll(event: PublishEvent, signal: AbortSignal, state?: PublishState, lock?: HeldLock): Promise<number> {
    const max = this.opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    const groupKey = event.payload.groupKey;
    let pushed = 0;
    for (const record of event.records) {
      const marker = `loki:${eventId(event.kind, [record])}`;
      if (state && (await state.load(groupKey, marker, [])).done) continue;
      const entry = { labels: recordLabels(record), line: fitRecord(record, max), ...entryTime(record) };
      const push = () => this.client.push([entry], signal);
      await (lock ? whileHeld(lock, TARGET, 'pushing the record', push) : push());
      await state?.save(groupKey, {}, marker);
      pushed++;
    }
    return pushed;
  }
}
