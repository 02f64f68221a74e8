import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { withFence } from '../clients/fence';
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
 * Written before each chat.postMessage of a group's first message and cleared with the saved
 * ts: an intent without a ts means an earlier attempt may have posted and died before
 * remembering it (Redis gone, worker killed), so the next attempt looks for that message in
 * the channel's history (by its metadata) before posting again. `channel` is the one to
 * search (the id when known); `firstAt`/`at` the first and latest post attempts (ms);
 * `lookups` the history lookups that failed in a retryable way; `answered`: the latest post
 * got an answer (an error), so it cannot still be on its way to Slack.
 */
const slackIntentSchema = z.object({
  channel: z.string().min(1),
  firstAt: z.number(),
  at: z.number(),
  attempt: z.number().int(),
  lookups: z.number().int().default(0),
  answered: z.boolean().optional(),
});

export type SlackIntent = z.infer<typeof slackIntentSchema>;

/**
 * What PagerDuty needs to remember (its dedup key is recomputed from the group key): the
 * alerts (alertKey) its resolve covered, so nothing about them can trigger the incident again.
 */
const pagerDutyStateSchema = z.object({ resolved: z.array(z.string()) });

export interface GroupState {
  slack?: SlackRef;
  /** A first post whose outcome is not known yet (see slackIntentSchema); saving `slack` clears it. */
  slackIntent?: SlackIntent;
  view?: GroupView;
  pagerduty?: z.infer<typeof pagerDutyStateSchema>;
}

export type StatePart = keyof GroupState;
const ALL_PARTS: readonly StatePart[] = ['slack', 'slackIntent', 'view'];

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
  /**
   * Writes the given parts (others untouched), marks `doneMarker` delivered, and renews the
   * group's TTL. Writing `slack` also clears `slackIntent`: the post's outcome is known.
   */
  save(groupKey: string, patch: GroupState, doneMarker?: string): Promise<void>;
  /**
   * Runs `fn` while holding the group's lock for one target, so two workers never post the
   * first message of one group twice. Throws a retryable OutboundError when it stays busy.
   * `fn` can ask `lock.held()` right before a step that must not run twice.
   */
  withLock<T>(groupKey: string, target: string, signal: AbortSignal, fn: (lock: HeldLock) => Promise<T>): Promise<T>;
}

/**
 * The lock `withLock` holds, as a lease: Redis keeps the key LOCK_TTL_MS from each renewal it
 * granted, so the lock is surely ours until the *send* time of the last granted renewal plus
 * the TTL. An answer read late (the process was paused, SIGSTOP or a stalled VM, while the
 * answer sat in its socket) therefore proves nothing about now, and every act that must not
 * run twice asks `held()` synchronously right before its request leaves.
 */
export interface HeldLock {
  /**
   * True while the lease runs: the last renewal Redis granted was sent less than the TTL
   * minus a margin (the time a request needs to reach its target) ago, and no renewal found
   * another holder. A paused process finds it false as soon as it runs again.
   */
  held(): boolean;
  /**
   * Renews the lease now (a round trip to Redis) and answers `held()` after it: right before
   * an act that cannot be taken back (a Slack post), so a lock another worker took over is
   * seen even when the pause was shorter than the heartbeat's period.
   */
  confirm(): Promise<boolean>;
}

/** The retryable error of an act refused because the group lock lapsed before it. */
export function lockLapsed(target: string, act: string): OutboundError {
  return new OutboundError(target, 'server', `the group lock lapsed before ${act}; will retry`);
}

/**
 * Runs `fn`, whose requests leave only while `lock` holds: checked now, and again by the HTTP
 * client right before each request is written (src/clients/fence.ts), so a pause in between
 * (a TCP or TLS handshake) cannot let a request out after the lease ran out.
 */
export function whileHeld<T>(lock: HeldLock, target: string, act: string, fn: () => Promise<T>): Promise<T> {
  if (!lock.held()) return Promise.reject(lockLapsed(target, act));
  return withFence({ held: () => lock.held(), lapsed: () => lockLapsed(target, act) }, fn);
}

/**
 * Alertmanager re-notifies a firing group every repeat_interval (4 h by default) and a
 * group can stay open for days; a week covers a long incident plus its follow-ups.
 */
export const PUBLISH_STATE_TTL_MS = 8 * 24 * 3600 * 1000;
/**
 * The group lock lives LOCK_TTL_MS and its holder renews it every 30% of that while it
 * works, however long the publish takes. A holder that died (SIGKILL, lost host) stops
 * renewing, so its lock is gone within LOCK_TTL_MS: shorter than LOCK_WAIT_MS, so the next
 * attempt waits it out instead of failing (issue 10, finding 9: with a fixed 120 s lock the
 * retries after a crash failed 'another worker is publishing' for two minutes). A takeover of
 * a post in flight is made safe by the intent and the history lookup (slack.ts). The holder
 * stops acting a fifth of the TTL (2 s) before its lease could lapse: a request sent then
 * still arrives while the lock is surely its own.
 */
export const LOCK_TTL_MS = 10_000;
const LOCK_WAIT_MS = 15_000;
const LOCK_POLL_MS = 50;

/** The lock's timings; only tests shorten them. */
export interface LockTimings {
  ttlMs: number;
  renewMs: number;
  marginMs: number;
  waitMs: number;
}

export function lockTimings(ttlMs = LOCK_TTL_MS): LockTimings {
  return { ttlMs, renewMs: Math.round(ttlMs * 0.3), marginMs: Math.round(ttlMs * 0.2), waitMs: Math.max(LOCK_WAIT_MS, ttlMs * 1.5) };
}

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
async function acquire(tryOnce: () => Promise<boolean>, target: string, signal: AbortSignal, waitMs = LOCK_WAIT_MS): Promise<void> {
  const deadline = Date.now() + waitMs;
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
const RENEW_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export class RedisPublishState implements PublishState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = PUBLISH_STATE_TTL_MS,
    private readonly lockTiming: LockTimings = lockTimings(),
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
    const intent = parseField(raw.get('slackIntent'), slackIntentSchema);
    const v = parseField(raw.get('view'), groupViewSchema);
    const pd = parseField(raw.get('pagerduty'), pagerDutyStateSchema);
    if (s) state.slack = s;
    if (intent) state.slackIntent = intent;
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
    const multi = this.redis.multi().hset(key, values);
    if (patch.slack && !patch.slackIntent) multi.hdel(key, 'slackIntent');
    const results = await this.call('save', () => multi.pexpire(key, this.ttlMs).exec());
    // exec answers [error, result] per command: a failed HSET must not pass for a save.
    if (!results || results.some(([err]) => err)) throw new OutboundError('publish-state', 'network', 'redis save failed (MULTI)');
  }

  async withLock<T>(groupKey: string, target: string, signal: AbortSignal, fn: (lock: HeldLock) => Promise<T>): Promise<T> {
    const lock = `${this.key(groupKey)}:lock:${target}`;
    const token = randomUUID();
    const { ttlMs, renewMs, marginMs, waitMs } = this.lockTiming;
    // The lease runs from the send time of the last request Redis granted (performance.now():
    // monotonic, and read afresh, so a pause of this process counts against it).
    let leaseEnd = 0;
    let lost = false;
    const granted = (sentAt: number) => {
      leaseEnd = Math.max(leaseEnd, sentAt + ttlMs - marginMs);
    };
    const renew = async (): Promise<void> => {
      const sentAt = performance.now();
      const renewed = await this.call('lock', () => this.redis.eval(RENEW_SCRIPT, 1, lock, token, String(ttlMs)));
      if (Number(renewed) === 1) granted(sentAt);
      else lost = true;
    };
    await acquire(
      async () => {
        const sentAt = performance.now();
        const ok = (await this.call('lock', () => this.redis.set(lock, token, 'PX', ttlMs, 'NX'))) === 'OK';
        if (ok) granted(sentAt);
        return ok;
      },
      target,
      signal,
      waitMs,
    );
    // Renewed while we work; a renewal that finds another token ends the lease for good, one
    // that fails (Redis unreachable) just lets it run out.
    const heartbeat = setInterval(() => void renew().catch(() => undefined), renewMs);
    heartbeat.unref();
    const held = () => !lost && performance.now() < leaseEnd;
    const handle: HeldLock = {
      held,
      confirm: async () => {
        if (!held()) return false;
        await renew();
        return held();
      },
    };
    try {
      return await fn(handle);
    } finally {
      clearInterval(heartbeat);
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
    if (patch.slack && !patch.slackIntent) delete e.state.slackIntent;
    if (doneMarker) e.done.add(doneMarker);
  }

  /** Forgets everything, as a Redis flush would. */
  clear(): void {
    this.groups.clear();
  }

  async withLock<T>(groupKey: string, target: string, signal: AbortSignal, fn: (lock: HeldLock) => Promise<T>): Promise<T> {
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
      return await fn({ held: () => true, confirm: async () => true });
    } finally {
      this.locks.delete(`${target}\n${groupKey}`);
    }
  }
}
