import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { OutboundError } from '../clients/http';
import { alertKey } from '../model/alert';
import type { AnnotationRecord } from '../model/record';
import { sleep } from '../text';
import { groupViewSchema, type GroupView } from './group-view';
import type { PublishEvent } from './types';

/**
 * Per-group memory of what the publishers already did: the Slack message (channel + ts),
 * the group's message view, and a marker per event already delivered. It is what makes
 * publishing idempotent across job retries and worker replicas. Two implementations: Redis (the service) and memory (the one-shot CLI replay).
 */

const slackRefSchema = z.object({ channel: z.string().min(1), ts: z.string().min(1) });

export type SlackRef = z.infer<typeof slackRefSchema>;

/**
 * What PagerDuty needs to remember (its dedup key is recomputed from the group key): the
 * alerts (alertKey) its resolve covered, so nothing about them can trigger the incident again.
 */
const pagerDutyStateSchema = z.object({ resolved: z.array(z.string()) });

export interface GroupState {
  slack?: SlackRef;
  view?: GroupView;
  pagerduty?: z.infer<typeof pagerDutyStateSchema>;
}

export type StatePart = keyof GroupState;
const ALL_PARTS: readonly StatePart[] = ['slack', 'view'];

/** What a publisher reads before an event: the group's state, and whether the event was delivered. */
export interface LoadedState {
  state: GroupState;
  done: boolean;
}

/**
 * One read before and one write after each event (Redis: HMGET, then one MULTI), so the
 * message ts and the event's marker are remembered together or not at all.
 */
export interface PublishState {
  /**
   * The group's state (only `parts`: PagerDuty needs none, and the view can be large) and
   * whether the event `marker` names was already delivered.
   */
  load(groupKey: string, marker?: string, parts?: readonly StatePart[]): Promise<LoadedState>;
  /** Writes the given parts (others untouched), marks `doneMarker` delivered, and renews the group's TTL. */
  save(groupKey: string, patch: GroupState, doneMarker?: string): Promise<void>;
  /**
   * Runs `fn` while holding the group's lock for one target, so two workers never post the
   * first message of one group twice. Throws a retryable OutboundError when it stays busy.
   */
  withLock<T>(groupKey: string, target: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T>;
}

/**
 * Alertmanager re-notifies a firing group every repeat_interval (4 h by default) and a
 * group can stay open for days; a week covers a long incident plus its follow-ups.
 */
export const PUBLISH_STATE_TTL_MS = 8 * 24 * 3600 * 1000;
/**
 * Longer than one publish can take: up to three Slack calls (update, reply, post), each
 * with a 10 s timeout and one in-place Retry-After wait of at most 10 s.
 */
const LOCK_TTL_MS = 120_000;
const LOCK_WAIT_MS = 15_000;
const LOCK_POLL_MS = 50;

/** The identity of one event across job retries: its kind and the alerts it is about. */
export function eventId(
  kind: PublishEvent['kind'],
  records: readonly Pick<AnnotationRecord, 'fingerprint' | 'startsAt' | 'status'>[],
  nonce?: string,
): string {
  const keys = records.map((r) => `${alertKey(r)}:${r.status}`).sort();
  return createHash('sha256')
    .update(`${kind}\n${keys.join('\n')}${nonce ? `\n${nonce}` : ''}`)
    .digest('hex')
    .slice(0, 24);
}

/** Group keys contain route matchers (label values); store a digest, not the key itself. */
export function groupDigest(groupKey: string): string {
  return createHash('sha256').update(groupKey).digest('hex').slice(0, 32);
}

function parseField<T>(raw: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps polling for a lock until it is acquired, the wait is over, or the job is aborted. */
async function acquire(tryOnce: () => Promise<boolean>, target: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    if (signal.aborted) throw new OutboundError(target, 'aborted', 'aborted while waiting for the group lock');
    if (await tryOnce()) return;
    if (Date.now() >= deadline) {
      throw new OutboundError(target, 'server', 'another worker is publishing this group; will retry');
    }
    await sleep(LOCK_POLL_MS, signal);
  }
}

const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class RedisPublishState implements PublishState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = PUBLISH_STATE_TTL_MS,
  ) {}

  /** The hash tag keeps a group's keys in one slot on Redis Cluster. */
  private key(groupKey: string): string {
    return `${this.prefix}:publish:{${groupDigest(groupKey)}}`;
  }

  /** Redis trouble is an outage of our own store: retryable, and never the group key in the message. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof OutboundError) throw err;
      throw new OutboundError('publish-state', 'network', `redis ${what} failed (${(err as Error).name})`);
    }
  }

  async load(groupKey: string, marker?: string, parts: readonly StatePart[] = ALL_PARTS): Promise<LoadedState> {
    const names = [...(marker ? [`done:${marker}`] : []), ...parts];
    if (names.length === 0) return { state: {}, done: false };
    const fields = await this.call('load', () => this.redis.hmget(this.key(groupKey), ...names));
    const raw = new Map(names.map((n, i) => [n, fields[i] ?? undefined]));
    const state: GroupState = {};
    const s = parseField(raw.get('slack'), slackRefSchema);
    const v = parseField(raw.get('view'), groupViewSchema);
    const pd = parseField(raw.get('pagerduty'), pagerDutyStateSchema);
    if (s) state.slack = s;
    if (v) state.view = v;
    if (pd) state.pagerduty = pd;
    return { state, done: marker !== undefined && raw.get(`done:${marker}`) !== undefined };
  }

  async save(groupKey: string, patch: GroupState, doneMarker?: string): Promise<void> {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) values[k] = JSON.stringify(v);
    if (doneMarker) values[`done:${doneMarker}`] = Date.now().toString();
    if (Object.keys(values).length === 0) return;
    const key = this.key(groupKey);
    await this.call('save', () => this.redis.multi().hset(key, values).pexpire(key, this.ttlMs).exec());
  }

  async withLock<T>(groupKey: string, target: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const lock = `${this.key(groupKey)}:lock:${target}`;
    const token = randomUUID();
    await acquire(
      async () => (await this.call('lock', () => this.redis.set(lock, token, 'PX', LOCK_TTL_MS, 'NX'))) === 'OK',
      target,
      signal,
    );
    try {
      return await fn();
    } finally {
      // Only our own token is deleted: a lock that expired and was taken over stays.
      await this.redis.eval(RELEASE_SCRIPT, 1, lock, token).catch(() => undefined);
    }
  }
}

/** For `replay --publish` and unit tests: one process, no Redis. */
export class MemoryPublishState implements PublishState {
  private readonly groups = new Map<string, { state: GroupState; done: Set<string> }>();
  private readonly locks = new Set<string>();

  private entry(groupKey: string): { state: GroupState; done: Set<string> } {
    let e = this.groups.get(groupKey);
    if (!e) this.groups.set(groupKey, (e = { state: {}, done: new Set() }));
    return e;
  }

  async load(groupKey: string, marker?: string, parts: readonly StatePart[] = ALL_PARTS): Promise<LoadedState> {
    const e = this.entry(groupKey);
    const state: GroupState = {};
    for (const p of parts) if (e.state[p]) Object.assign(state, { [p]: structuredClone(e.state[p]) });
    return { state, done: marker !== undefined && e.done.has(marker) };
  }

  async save(groupKey: string, patch: GroupState, doneMarker?: string): Promise<void> {
    const e = this.entry(groupKey);
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) Object.assign(e.state, { [k]: structuredClone(v) });
    if (doneMarker) e.done.add(doneMarker);
  }

  /** Forgets everything, as a Redis flush would. */
  clear(): void {
    this.groups.clear();
  }

  async withLock<T>(groupKey: string, target: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    // Test and set in one synchronous step, as SET NX does in Redis.
    await acquire(
      async () => {
        if (this.locks.has(`${target}\n${groupKey}`)) return false;
        this.locks.add(`${target}\n${groupKey}`);
        return true;
      },
      target,
      signal,
    );
    try {
      return await fn();
    } finally {
      this.locks.delete(`${target}\n${groupKey}`);
    }
  }
}
