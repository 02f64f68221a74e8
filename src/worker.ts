import { DelayedError, Job, Queue, UnrecoverableError, Worker, type AdvancedOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { throttled } from './logger';
import type { Metrics } from './metrics';
import { createHash } from 'node:crypto';
import type { WebhookPayload } from './model/alert';
import { storedNarrationSchema, type StoredNarration } from './model/narration';
import {
  annotateGroup,
  NarrationPendingError,
  PermanentPublishError,
  renarrateGroup,
  type GroupOutcome,
  type NarrationStore,
  type PipelineDeps,
  type RenarrationData,
} from './pipeline';
import { startAlertSpan } from './telemetry';
import {
  BACKOFF_TYPE,
  groupJobSchema,
  INTERACTION_JOB,
  NARRATE_QUEUE_NAME,
  QUEUE_NAME,
  RENARRATE_DELAYS_MS,
  renarrateJobSchema,
  retryDelayMs,
  type RenarrateJobData,
} from './queue/job';
import type { DeadLetters } from './queue/dead-letters';
import { queueDepth } from './queue/depth';

export interface WorkerOptions {
  /** A connection with maxRetriesPerRequest: null, as BullMQ workers require. */
  connection: Redis;
  /** Does the work of a Slack interaction job (src/interactions.ts); absent: such jobs fail. */
  interactions?: (data: unknown, signal: AbortSignal) => Promise<void>;
  prefix: string;
  concurrency: number;
  deps: PipelineDeps;
  /**
   * Routes and tenants (ROUTES_FILE, TENANT_LABEL): a notification is split into parts, each
   * run with its own route's and tenant's dependencies. Absent: the whole notification runs
   * with `deps`.
   */
  routing?: {
    plan(payload: WebhookPayload): { payload: WebhookPayload; route: { name: string }; tenant?: string }[];
    depsFor(route: string, tenant: string | undefined): PipelineDeps;
  };
  log: Logger;
  metrics?: Metrics;
  /** Waits before each further narration attempt after a model failure. */
  renarrateDelaysMs?: readonly number[];
  /** First retry delay of group jobs (JOB_BACKOFF_MS). */
  backoffMs?: number;
  /** The longest retry delay (JOB_BACKOFF_MAX_MS). */
  backoffMaxMs?: number;
  /** Where jobs that fail for good are kept. */
  deadLetters?: DeadLetters;
}

/** What a finished group job leaves in Redis. */
export interface GroupReceipt {
  annotated: number;
  skipped: number;
  narrationPending: boolean;
  /** `fingerprint:status` of each record written. */
  fingerprints: string[];
}

export interface AnnotatorWorker {
  worker: Worker;
  /** Takes narration jobs (a queue of their own, so the model never holds up a first note). */
  narrator: Worker;
  /**
   * Stops taking jobs and waits for the ones in flight. Jobs still running after `graceMs`
   * are aborted, so BullMQ hands them back (delayed for their retry) before the process
   * exits, instead of leaving them active under a lock the next worker has to wait out.
   */
  close(graceMs?: number): Promise<void>;
  /** Jobs by queue and state (both queues), for the queue-depth metric. */
  counts(): Promise<Record<string, Record<string, number>>>;
}

/** Attempts of one narration job when publishing fails (the model is asked once per job). */
const NARRATE_JOB_ATTEMPTS = 10;

/**
 * A narration job is queued on hold before its group's first note is published, and let go
 * as soon as the note is out. One that nobody let go (the worker or Redis died in between)
 * runs on its own after this long, and first checks that the note went out.
 */
export const NARRATION_HOLD_MS = 30_000;
/** Model answers a worker process also keeps in memory (a few KB each). */
const KEPT_ANSWERS = 1000;
/** How long a narration waits for its group's first note (a long Slack or Loki outage delays it). */
export const NARRATION_FIRST_NOTE_WAIT_MS = 12 * 3600_000;
/**
 * How long a narration waits for the model to take its request (a free slot, a closed
 * breaker, a server that answers again): as long as a group job retries an outage, so a
 * model that is down for hours delays narrations rather than dropping them.
 */
export const NARRATION_MODEL_WAIT_MS = 6 * 3600_000;

/** The group job (and its route and tenant part) a narration belongs to. */
interface GroupPart {
  groupJobId: string;
  traceparent?: string;
  routing?: { route: string; tenant?: string };
}

/** Same alert, same status: the record of one alert in a narration. */
const recordKey = (r: { fingerprint: string; startsAt: string; status: string }) => `${r.fingerprint}|${r.startsAt}|${r.status}`;

/**
 * The alerts a later run of the group job has and the held narration lacks (claimed by another
 * worker when the held job was queued), or undefined when there are none. The Slack ts the
 * publish added need not be copied: the narration's own publish finds the message and puts
 * its ts into the narration records.
 */
function withAddedAlerts(held: RenarrationData, later: RenarrationData): RenarrationData | undefined {
  const known = new Set(held.records.map(recordKey));
  const added = later.records.filter((r) => !known.has(recordKey(r)));
  if (added.length === 0) return undefined;
  const fingerprints = new Set(added.map((r) => r.fingerprint));
  return {
    ...held,
    records: [...held.records, ...added],
    input: { ...held.input, alerts: [...held.input.alerts, ...later.input.alerts.filter((a) => fingerprints.has(a.fingerprint))] },
  };
}

/**
 * The worker: takes group jobs, runs the pipeline inside a root span `alert.annotate`
 * (linked to the receiving request's span), and queues the narration job that follows the
 * deterministic note.
 */
export function startWorker(opts: WorkerOptions): AnnotatorWorker {
  const delays = opts.renarrateDelaysMs ?? RENARRATE_DELAYS_MS;
  const groups = new Queue(QUEUE_NAME, { connection: opts.connection, prefix: opts.prefix });
  groups.on('error', () => undefined);
  const followUps = new Queue(NARRATE_QUEUE_NAME, { connection: opts.connection, prefix: opts.prefix });
  /** Model answers of this process's narration jobs not yet published, newest last (the job data keeps them for every process). */
  const answers = new Map<string, StoredNarration>();
  const remember = (jobId: string, narration: StoredNarration) => {
    answers.delete(jobId);
    answers.set(jobId, narration);
    if (answers.size > KEPT_ANSWERS) answers.delete(answers.keys().next().value!);
  };
  followUps.on('error', () => undefined);

  const processGroup = async (job: Job, token: string | undefined, signal: AbortSignal): Promise<GroupReceipt> => {
    const data = groupJobSchema.parse(job.data);
    const { payload } = data;
    const log = opts.log.child({ jobId: job.id, groupKey: payload.groupKey });
    // Each tenant's part runs in a root span of its own, so no span mixes two tenants.
    const parts = opts.routing?.plan(payload) ?? [{ payload, route: { name: 'default' } }];
    const outcome: GroupOutcome = { annotated: 0, skipped: 0, records: [] };
    for (const part of parts) {
      const routing = { route: part.route.name, ...(part.tenant !== undefined ? { tenant: part.tenant } : {}) };
      const narrationOf: GroupPart = { groupJobId: job.id!, ...(data.traceparent ? { traceparent: data.traceparent } : {}), routing };
      const deps = opts.routing ? opts.routing.depsFor(part.route.name, part.tenant) : opts.deps;
      const partLog = opts.routing ? log.child({ route: part.route.name, tenant: part.tenant }) : log;
      const p = part.payload;
      const o = await startAlertSpan(
        {
          traceparent: data.traceparent,
          fingerprint: p.alerts.map((a) => a.fingerprint),
          alertname: p.commonLabels.alertname ?? p.alerts[0]?.labels.alertname ?? '',
          groupKey: p.groupKey,
          attributes: {
            'alert.status': p.status,
            'job.id': job.id ?? '',
            'job.attempt': job.attemptsMade + 1,
            ...(opts.routing ? { 'alert.route': part.route.name } : {}),
            ...(part.tenant !== undefined ? { 'alert.tenant': part.tenant } : {}),
          },
        },
        async (span) => {
          const r = await annotateGroup(p, { ...deps, log: partLog }, signal, {
            // The run, not only the job: a stalled job handed to another worker has a new token,
            // so it cannot take over the claims of a first run that still goes.
            owner: `${job.id}:${token ?? 'no-token'}`,
            holdNarration: (n) => holdNarration(narrationOf, n),
            queueNarration: (n) => releaseNarration(narrationOf, n),
          });
          span.setAttribute('alert.annotated', r.annotated);
          span.setAttribute('alert.skipped', r.skipped);
          return r;
        },
      );
      outcome.annotated += o.annotated;
      outcome.skipped += o.skipped;
      outcome.records.push(...o.records);
      if (o.renarration) outcome.renarration = o.renarration;
    }
    const narrationPending = outcome.renarration !== undefined;
    log.info({ annotated: outcome.annotated, skipped: outcome.skipped, narrationPending }, 'group processed');
    for (const r of outcome.records) opts.metrics?.records.inc({ narrator: r.narrator.split(':')[0] ?? r.narrator });
    opts.metrics?.jobs.inc({ outcome: outcome.annotated > 0 ? 'annotated' : 'skipped' });
    // BullMQ stores the return value in Redis: keep it to a receipt, not the records.
    return {
      annotated: outcome.annotated,
      skipped: outcome.skipped,
      narrationPending,
      fingerprints: outcome.records.map((r) => `${r.fingerprint}:${r.status}`),
    };
  };

  /** One narration job per group part: a split notification has one per tenant and route. */
  const narrationJobId = (groupJobId: string, routing?: { route: string; tenant?: string }) => {
    const partKey = routing
      ? `-${createHash('sha256')
          .update(`${routing.tenant ?? ''}|${routing.route}`)
          .digest('hex')
          .slice(0, 12)}`
      : '';
    return `r-${groupJobId}${partKey}-1`;
  };

  const narrationData = ({ groupJobId, traceparent, routing }: GroupPart, renarration: RenarrationData): RenarrateJobData => ({
    groupJobId,
    attempt: 1,
    renarration: renarration as unknown as RenarrateJobData['renarration'],
    ...(traceparent ? { traceparent } : {}),
    ...(routing ? { routing } : {}),
  });

  const addNarration = (data: RenarrateJobData, jobId: string, delay: number) =>
    followUps.add('renarrate', data, {
      jobId,
      delay,
      attempts: NARRATE_JOB_ATTEMPTS,
      backoff: { type: BACKOFF_TYPE, delay: opts.backoffMs ?? 5000 },
      removeOnComplete: { age: 3600 },
      removeOnFail: true,
    });

  /** Before the first note is published: the narration job, on hold (a no-op when a first run queued it). */
  const holdNarration = async (part: GroupPart, renarration: RenarrationData) => {
    await addNarration(narrationData(part, renarration), narrationJobId(part.groupJobId, part.routing), NARRATION_HOLD_MS);
  };

  /** The first note is out: the held job goes now. */
  const releaseNarration = async (part: GroupPart, renarration: RenarrationData) => {
    const id = narrationJobId(part.groupJobId, part.routing);
    const held = await Job.fromId(followUps, id);
    if (!held) {
      await addNarration(narrationData(part, renarration), id, 0);
      return;
    }
    const data = renarrateJobSchema.safeParse(held.data);
    const merged = data.success ? withAddedAlerts(data.data.renarration as unknown as RenarrationData, renarration) : undefined;
    // Only a job still on hold takes more alerts (a running one has read its data already).
    if (merged && data.success && (await held.isDelayed())) {
      await held.updateData({ ...data.data, renarration: merged as unknown as RenarrateJobData['renarration'] });
    }
    // It may have started on its own in the meantime: then there is nothing to let go.
    await held.promote().catch(() => undefined);
  };

  /** Whether the group's first note is out: its alerts marked done, or its job completed. */
  const firstNote = async (data: RenarrateJobData, deps: PipelineDeps): Promise<'out' | 'pending' | 'lost'> => {
    const records = (data.renarration as unknown as RenarrationData).records;
    if (deps.dedup.allDone && (await deps.dedup.allDone(records))) return 'out';
    const state = await groups.getJobState(data.groupJobId);
    if (state === 'completed') return 'out';
    // Failed for good (a dead letter keeps it; its retry queues the narration anew) or gone.
    if (state === 'failed' || state === 'unknown') return deps.dedup.allDone ? 'lost' : 'out';
    return 'pending';
  };

  /** Puts the running job back to wait `ms` (not an attempt: BullMQ's moveToDelayed skips the count). */
  const waitFor = async (job: Job, token: string | undefined, ms: number, data?: RenarrateJobData): Promise<never> => {
    if (data) await job.updateData(data);
    await job.moveToDelayed(Date.now() + ms, token);
    throw new DelayedError();
  };

  const processRenarrate = async (job: Job, token: string | undefined, signal: AbortSignal) => {
    const data = renarrateJobSchema.parse(job.data);
    const renarration = data.renarration as unknown as RenarrationData;
    const log = opts.log.child({ jobId: job.id, groupKey: renarration.event.payload.groupKey });
    const deps = opts.routing && data.routing ? opts.routing.depsFor(data.routing.route, data.routing.tenant) : opts.deps;
    // Nothing to narrate before the note it improves is out (a held job nobody let go).
    const note = data.narration === undefined ? await firstNote(data, deps) : 'out';
    if (note === 'lost') throw new UnrecoverableError("the group's first note did not go out (its job failed); nothing to narrate");
    if (note === 'pending') {
      const waited = Date.now() - job.timestamp;
      if (waited > NARRATION_FIRST_NOTE_WAIT_MS) {
        log.warn({ waitedMs: waited }, "narration gave up waiting for the group's first note");
        return { renarrated: 0 };
      }
      // Soon at first (the note is usually seconds away), then once a minute.
      return waitFor(job, token, Math.min(60_000, 1000 * 2 ** Math.min(6, Math.floor(waited / 10_000))));
    }
    return startAlertSpan(
      {
        traceparent: data.traceparent,
        fingerprint: renarration.records.map((r) => r.fingerprint),
        alertname: renarration.records[0]?.alertname ?? '',
        groupKey: renarration.event.payload.groupKey,
        attributes: { 'alert.renarration_attempt': data.attempt, 'job.id': job.id ?? '' },
      },
      async () => {
        // The model's answer lives in the job's data from the moment it came.
        // And in this process's memory too: when Redis fails right after the answer came, the
        // retry (here, once Redis is back) publishes it instead of asking the model again.
        const kept = storedNarrationSchema.safeParse(data.narration);
        const store: NarrationStore = {
          load: () => (kept.success ? kept.data : answers.get(job.id ?? '')),
          save: async (narration) => {
            remember(job.id ?? '', narration);
            await job.updateData({ ...data, narration });
          },
        };
        try {
          await renarrateGroup(renarration, { ...deps, log }, signal, store);
          answers.delete(job.id ?? '');
          log.info({ attempt: data.attempt }, 'narration follow-up published');
          return { renarrated: renarration.records.length };
        } catch (err) {
          // Only a model failure is handled here; a publish failure is retried by this job's
          // own attempts, like any other publish, with the answer kept.
          if (!(err instanceof NarrationPendingError)) throw err;
          // The model had the request (a timeout, an answer rejected twice): one call per
          // group, ever, so it is not asked again and the deterministic note stands.
          if (!err.askAgain) {
            log.warn(
              { reason: err.reason },
              'narration failed after the model had the request; not asking again: the deterministic note stands',
            );
            return { renarrated: 0 };
          }
          // The request never reached the model: wait and ask again, without spending an attempt.
          const since = data.modelWaitSince ?? Date.now();
          const refusals = (data.refusals ?? 0) + (err.reason === 'busy' || err.reason === 'circuit_open' ? 0 : 1);
          // No slot: again in a moment (the slot wait already took up to LLM_TIMEOUT_MS). An open
          // breaker: when it closes. Turned away by the server: the planned delays, then the last
          // of them, never sooner than its Retry-After.
          const jitter = Math.random() * 1000;
          const delay =
            err.reason === 'busy'
              ? 500 + 1.5 * jitter
              : err.reason === 'circuit_open'
                ? Math.max(1000, err.retryAfterMs ?? 0) + jitter
                : Math.max(delays[Math.min(refusals, delays.length) - 1] ?? 60_000, err.retryAfterMs ?? 0);
          if (Date.now() + delay - since > NARRATION_MODEL_WAIT_MS) {
            log.warn({ reason: err.reason, refusals }, 'narration gave up waiting for the model; the deterministic note stands');
            return { renarrated: 0 };
          }
          if (err.reason !== 'busy')
            log.info({ reason: err.reason, delayMs: Math.round(delay) }, 'the model did not take the narration; asking again later');
          return waitFor(job, token, delay, { ...data, modelWaitSince: since, refusals });
        }
      },
    );
  };

  const workerError = throttled(10_000);
  const deadLetter = async (job: Job, err: Error, attempts: number, onlyNew = false) => {
    if (!opts.deadLetters) return;
    try {
      await opts.deadLetters.add({ id: job.id, name: job.name, data: job.data, attempts, opts: job.opts }, err.message, onlyNew);
    } catch (e) {
      opts.log.error({ jobId: job.id, err: (e as Error).message }, 'dead letter not written');
    }
  };

  const settings: AdvancedOptions = {
    // Only called for our BACKOFF_TYPE; BullMQ's own types keep their built-in strategies.
    backoffStrategy: (attemptsMade, _type, err, job) => {
      const backoff = job?.opts.backoff;
      const base = (typeof backoff === 'object' ? backoff.delay : undefined) ?? opts.backoffMs ?? 5000;
      return retryDelayMs(attemptsMade, base, err, opts.backoffMaxMs);
    },
  };
  /**
   * One worker per queue, with the same handling. Only group jobs become dead letters: a
   * narration that fails for good leaves the deterministic note, which is already out.
   */
  const start = (
    queue: string,
    process: (job: Job, token: string | undefined, signal: AbortSignal) => Promise<unknown>,
    keepDead: boolean,
  ): Worker => {
    const w = new Worker(
      queue,
      async (job, token, signal) => {
        try {
          return await process(job, token, signal ?? new AbortController().signal);
        } catch (caught) {
          // A job whose data does not parse will never succeed: end it without retries.
          const err =
            caught instanceof ZodError
              ? new UnrecoverableError(`invalid job data: ${caught.issues[0]?.message ?? 'schema'}`)
              : caught instanceof PermanentPublishError
                ? new UnrecoverableError(caught.message)
                : caught;
          // The last attempt: keep the job as a dead letter before BullMQ drops it.
          if (keepDead && (err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)))
            await deadLetter(job, err as Error, job.attemptsMade + 1);
          throw err;
        }
      },
      { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency, autorun: true, settings },
    );
    // While Redis is down BullMQ reports every retry of every connection: one line per 10 s.
    w.on('error', (err) =>
      workerError((suppressed) => opts.log.error({ err: err.message, ...(suppressed ? { suppressed } : {}) }, 'worker error')),
    );
    w.on('failed', (job, err) => {
      if (!job) return;
      const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError;
      // A job failed without running (stalled too often): the processor wrote no dead letter.
      if (final && keepDead) void deadLetter(job, err, job.attemptsMade, true);
      opts.metrics?.jobs.inc({ outcome: final ? 'failed' : 'retried' });
      opts.log[final ? 'error' : 'warn'](
        { jobId: job.id, attempt: job.attemptsMade, err: err.message },
        final ? 'job failed for good' : 'job failed; will retry',
      );
    });
    return w;
  };
  // Slack clicks ride on the group queue (the receiver has only its producer): by job name.
  const worker = start(
    QUEUE_NAME,
    async (job, token, signal) => {
      if (job.name !== INTERACTION_JOB) return processGroup(job, token, signal);
      if (!opts.interactions) throw new UnrecoverableError('this worker handles no Slack interactions');
      return opts.interactions(job.data, signal);
    },
    true,
  );
  const narrator = start(NARRATE_QUEUE_NAME, (job, token, signal) => processRenarrate(job, token, signal), false);

  return {
    worker,
    narrator,
    async close(graceMs = Infinity) {
      const abort = Number.isFinite(graceMs)
        ? setTimeout(() => {
            worker.cancelAllJobs('shutdown deadline');
            narrator.cancelAllJobs('shutdown deadline');
          }, graceMs)
        : undefined;
      try {
        await Promise.all([worker.close(), narrator.close()]);
      } finally {
        clearTimeout(abort);
      }
      await Promise.all([groups.close(), followUps.close()]);
    },
    counts: () => queueDepth([groups, followUps]),
  };
}
