import { Queue, UnrecoverableError, Worker, type AdvancedOptions, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { throttled } from './logger';
import type { Metrics } from './metrics';
import { createHash } from 'node:crypto';
import type { WebhookPayload } from './model/alert';
import { storedNarrationSchema } from './model/narration';
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
 * The worker: takes group jobs, runs the pipeline inside a root span `alert.annotate`
 * (linked to the receiving request's span), and queues the narration job that follows the
 * deterministic note.
 */
export function startWorker(opts: WorkerOptions): AnnotatorWorker {
  const delays = opts.renarrateDelaysMs ?? RENARRATE_DELAYS_MS;
  const groups = new Queue(QUEUE_NAME, { connection: opts.connection, prefix: opts.prefix });
  groups.on('error', () => undefined);
  const followUps = new Queue(NARRATE_QUEUE_NAME, { connection: opts.connection, prefix: opts.prefix });
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
            queueNarration: async (n) => void (await scheduleRenarration(job.id!, data.traceparent, n, 1, 0, routing)),
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

  const scheduleRenarration = async (
    groupJobId: string,
    traceparent: string | undefined,
    renarration: RenarrationData,
    attempt: number,
    retryAfterMs = 0,
    routing?: { route: string; tenant?: string },
  ) => {
    // The first attempt runs at once; the later ones (after a model failure) as planned.
    const planned = attempt === 1 ? 0 : delays[attempt - 2];
    if (planned === undefined) return false;
    // Never sooner than the model asked (a 429's Retry-After, an open breaker's cool-down).
    const delay = Math.max(planned, retryAfterMs);
    const data: RenarrateJobData = {
      groupJobId,
      attempt,
      renarration: renarration as unknown as RenarrateJobData['renarration'],
      ...(traceparent ? { traceparent } : {}),
      ...(routing ? { routing } : {}),
    };
    // One follow-up per group part: a split notification has one per tenant and route.
    const partKey = routing
      ? `-${createHash('sha256')
          .update(`${routing.tenant ?? ''}|${routing.route}`)
          .digest('hex')
          .slice(0, 12)}`
      : '';
    await followUps.add('renarrate', data, {
      jobId: `r-${groupJobId}${partKey}-${attempt}`,
      delay,
      attempts: NARRATE_JOB_ATTEMPTS,
      backoff: { type: BACKOFF_TYPE, delay: opts.backoffMs ?? 5000 },
      removeOnComplete: { age: 3600 },
      removeOnFail: true,
    });
    return true;
  };

  const processRenarrate = async (job: Job, signal: AbortSignal) => {
    const data = renarrateJobSchema.parse(job.data);
    const renarration = data.renarration as unknown as RenarrationData;
    const log = opts.log.child({ jobId: job.id, groupKey: renarration.event.payload.groupKey });
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
        const kept = storedNarrationSchema.safeParse(data.narration);
        const store: NarrationStore = {
          load: () => (kept.success ? kept.data : undefined),
          save: (narration) => job.updateData({ ...data, narration }),
        };
        try {
          const deps = opts.routing && data.routing ? opts.routing.depsFor(data.routing.route, data.routing.tenant) : opts.deps;
          await renarrateGroup(renarration, { ...deps, log }, signal, store);
          log.info({ attempt: data.attempt }, 'narration follow-up published');
          return { renarrated: renarration.records.length };
        } catch (err) {
          // Only a model failure waits for the next planned try; a publish failure is retried
          // by this job's own attempts, like any other publish.
          if (!(err instanceof NarrationPendingError)) throw err;
          const next = await scheduleRenarration(
            data.groupJobId,
            data.traceparent,
            renarration,
            data.attempt + 1,
            err.retryAfterMs,
            data.routing,
          );
          log.warn(
            { attempt: data.attempt, next, err: (err as Error).message },
            next ? 'narration follow-up failed; trying later' : 'narration follow-up gave up; the deterministic note stands',
          );
          return { renarrated: 0 };
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
  const narrator = start(NARRATE_QUEUE_NAME, (job, _token, signal) => processRenarrate(job, signal), false);

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
