import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { createRedis, describeRedis } from './clients/redis';
import type { DestinationStream, Logger } from 'pino';
import { ConfigError, secretValues, webhookAuthProblem, type Config } from './config';
import type { LokiClient } from './clients/loki';
import { RedisDedup } from './dedup';
import { LokiAnnotationIndex } from './dedup/loki-index';
import { createLogger } from './logger';
import { Metrics } from './metrics';
import type { PipelineDeps } from './pipeline';
import { DeadLetters } from './queue/dead-letters';
import { Producer } from './queue/producer';
import { startWorker, type AnnotatorWorker } from './worker';
import { handleInteraction } from './interactions';
import { interactionJobSchema, type InteractionJobData } from './model/interaction';
import { createReceiverServer, type ReceiverDeps } from './receive/app';
import type { WebhookPayload } from './model/alert';
import { planRoutes } from './route/plan';
import { DEFAULT_ROUTE, type Route } from './route/routes';
import {
  analyzeOptions,
  buildInteractionDeps,
  buildLokiClient,
  buildChangeStore,
  buildNarrator,
  buildPublishers,
  buildChartUploader,
  buildSources,
  configForPart,
  missingPieces,
  narratorLine,
} from './wiring';

export interface Service {
  /** Base URL of this process's HTTP server (the webhook, or only metrics and health for ROLE=worker). */
  url?: string;
  log: Logger;
  metrics: Metrics;
  /** Stops in reverse order with a deadline: HTTP server → worker → queue → Redis. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  destination?: DestinationStream;
  /** Overrides for tests: delays of the narration follow-ups. */
  renarrateDelaysMs?: readonly number[];
  /** Called by shutdown after everything else (telemetry flush). */
  onShutdown?: () => Promise<void>;
  logMixin?: () => Record<string, unknown>;
  traceparent?: () => string | undefined;
  /** Logged as warnings at start: unknownSettings(env) (config.ts). */
  warnings?: readonly string[];
}

function pingWithin(redis: Redis, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    redis.ping().then(
      (r) => {
        clearTimeout(timer);
        resolve(r === 'PONG');
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

/** Pipeline dependencies from configuration: shared by `serve` and `replay --publish`. */
export function buildPipelineDeps(
  config: Config,
  log: Logger,
  opts: { redis?: Redis; metrics?: Metrics; loki?: LokiClient } = {},
): Omit<PipelineDeps, 'dedup'> {
  const loki = opts.loki ?? buildLokiClient(config);
  return {
    sources: buildSources(config, log, loki),
    narrator: buildNarrator(config, log, opts.redis),
    publishers: buildPublishers(config, log, loki, opts.redis),
    chart: buildChartUploader(config, log, opts.redis, opts.metrics),
    analyzeOptions: analyzeOptions(config),
    log,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  };
}

/** Reverse order of start: stop taking requests, finish jobs, then drop connections. */
const SHUTDOWN_ORDER = ['http', 'worker', 'queue', 'redis'] as const;

/** The composition root: the only place that wires real dependencies. */
export async function startService(config: Config, opts: StartOptions = {}): Promise<Service> {
  const refusal = webhookAuthProblem(config);
  if (refusal) throw new ConfigError([refusal]);
  const log = createLogger({ level: config.LOG_LEVEL, secrets: secretValues(config), destination: opts.destination, mixin: opts.logMixin });
  const metrics = new Metrics();
  // Filled as parts start; shutdown runs them in SHUTDOWN_ORDER.
  // Each gets the time left before the deadline.
  const closers: Partial<Record<(typeof SHUTDOWN_ORDER)[number], (budgetMs: number) => Promise<unknown>>> = {};
  const runReceiver = config.ROLE !== 'worker';
  const runWorker = config.ROLE !== 'receiver';
  // What this start goes without: a first start with nothing configured says so, piece by piece.
  for (const { unset, line } of missingPieces(config)) log.info({ unset }, line);
  log.info({ redis: describeRedis(config), prefix: config.QUEUE_PREFIX }, 'redis');
  const narrator = runWorker ? narratorLine(config) : undefined;
  if (narrator) log.info({ provider: config.LLM_PROVIDER }, narrator);

  const onRedisError = (which: string) => {
    let last = 0;
    return (err: Error) => {
      // ioredis reports every reconnect attempt; one line every 10 s is enough.
      if (Date.now() - last > 10_000) log.warn({ redis: which, err: err.message }, 'redis connection error');
      last = Date.now();
    };
  };

  let worker: AnnotatorWorker | undefined;
  let producer: Producer | undefined;
  // What the HTTP server needs from the role: a worker-only process serves /metrics and
  // health on PORT too, so its LLM and job metrics can be scraped.
  let ready: () => Promise<boolean> = async () => false;
  let enqueue: ReceiverDeps['enqueue'] | undefined;

  if (runWorker) {
    // Workers block on Redis: BullMQ requires maxRetriesPerRequest null here.
    const workerRedis = createRedis(config, { maxRetriesPerRequest: null });
    workerRedis.on('error', onRedisError('worker'));
    const stateRedis = createRedis(config, { maxRetriesPerRequest: 3 });
    stateRedis.on('error', onRedisError('state'));
    /** Pipeline dependencies for one route and tenant (configForPart), built once and kept. */
    const partDeps = new Map<Route, Map<string | undefined, PipelineDeps>>();
    const depsFor = (route: Route, tenant: string | undefined): PipelineDeps => {
      const known = partDeps.get(route)?.get(tenant);
      if (known) return known;
      const c = route === DEFAULT_ROUTE && tenant === undefined ? config : configForPart(config, route, tenant);
      const loki = buildLokiClient(c);
      const built: PipelineDeps = {
        ...buildPipelineDeps(c, log, { redis: stateRedis, metrics, ...(loki ? { loki } : {}) }),
        dedup: new RedisDedup({
          redis: stateRedis,
          // One tenant's "already annotated" never suppresses another's.
          prefix: tenant === undefined ? config.QUEUE_PREFIX : `${config.QUEUE_PREFIX}:tenant:${tenant}`,
          log,
          ...(loki ? { index: new LokiAnnotationIndex(loki) } : {}),
        }),
        route: { name: route.name, ...(tenant !== undefined ? { tenant } : {}), ...(route.links.length ? { links: route.links } : {}) },
      };
      if (!partDeps.has(route)) partDeps.set(route, new Map());
      partDeps.get(route)!.set(tenant, built);
      return built;
    };
    const routes = config.routes ?? [];
    const deps = depsFor(DEFAULT_ROUTE, undefined);
    if (deps.publishers.length === 0) {
      log.warn('no LOKI_URL, Slack or PagerDuty configured: annotations are computed but published nowhere');
    }
    // Clicks run on the default route's settings; a re-analysis runs on the route and tenant
    // its group was published with (the channel, links and back ends of its card).
    const feedbackLoki = buildLokiClient(config);
    const interactionDeps = buildInteractionDeps(config, log, {
      redis: stateRedis,
      pipeline: deps,
      pipelineFor: (route, tenant) => depsFor((route && routes.find((r) => r.name === route)) || DEFAULT_ROUTE, tenant),
      metrics,
      ...(feedbackLoki ? { loki: feedbackLoki } : {}),
    });
    worker = startWorker({
      connection: workerRedis,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      backoffMs: config.JOB_BACKOFF_MS,
      backoffMaxMs: config.JOB_BACKOFF_MAX_MS,
      deadLetters: new DeadLetters(stateRedis, config.QUEUE_PREFIX),
      deps,
      ...(routes.length > 0 || config.TENANT_LABEL
        ? {
            routing: {
              plan: (payload: WebhookPayload) => planRoutes(payload, { routes, tenantLabel: config.TENANT_LABEL }),
              depsFor: (routeName: string, tenant: string | undefined) =>
                depsFor(routes.find((r) => r.name === routeName) ?? DEFAULT_ROUTE, tenant),
            },
          }
        : {}),
      log,
      metrics,
      ...(opts.renarrateDelaysMs ? { renarrateDelaysMs: opts.renarrateDelaysMs } : {}),
      interactions: (data, signal) => handleInteraction(interactionJobSchema.parse(data), interactionDeps, signal),
    });
    closers.redis = async () => {
      workerRedis.disconnect();
      stateRedis.disconnect();
    };
    // Jobs still running near the deadline are aborted and handed back to the queue; the
    // reserve is the time that takes.
    closers.worker = (budgetMs) => worker!.close(budgetMs - Math.min(1000, budgetMs / 2));
    ready = () => pingWithin(stateRedis, 1500);
    metrics.setQueueDepthReader(() => worker!.counts());
    const deadLetters = new DeadLetters(stateRedis, config.QUEUE_PREFIX);
    metrics.setDeadLetterReader(() => deadLetters.count());
  }

  if (runReceiver) {
    // Producers fail fast: no offline queue, so a Redis outage becomes a quick 503.
    const queueRedis = createRedis(config, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    queueRedis.on('error', onRedisError('queue'));
    producer = new Producer(queueRedis, config.QUEUE_PREFIX, { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS });
    metrics.setQueueDepthReader(() => producer!.counts());
    const deadLetters = new DeadLetters(queueRedis, config.QUEUE_PREFIX);
    metrics.setDeadLetterReader(() => deadLetters.count());
    enqueue = (payload, traceparent) => producer!.enqueue(payload, traceparent);
    ready = () => pingWithin(queueRedis, 1500);
    closers.queue = async () => {
      await producer!.close();
      queueRedis.disconnect();
    };
  }

  const storeChange = runReceiver ? buildChangeStore(config) : undefined;
  const httpServer = createReceiverServer({
    ...(enqueue ? { enqueue } : {}),
    ...(storeChange ? { storeChange } : {}),
    ...(producer ? { enqueueInteraction: (data: InteractionJobData) => producer!.enqueueInteraction(data) } : {}),
    ...(config.SLACK_SIGNING_SECRET ? { slackSigningSecret: config.SLACK_SIGNING_SECRET } : {}),
    ready,
    metrics,
    log,
    auth: { bearerToken: config.WEBHOOK_BEARER_TOKEN, basicAuth: config.WEBHOOK_BASIC_AUTH, open: config.WEBHOOK_AUTH === 'none' },
    maxBodyBytes: config.WEBHOOK_MAX_BODY_BYTES,
    ...(opts.traceparent ? { traceparent: opts.traceparent } : {}),
  });
  const server = await new Promise<Server>((resolve, reject) => {
    httpServer.once('error', reject);
    if (config.HOST) httpServer.listen(config.PORT, config.HOST, () => resolve(httpServer));
    else httpServer.listen(config.PORT, () => resolve(httpServer));
  });
  // Alertmanager keeps connections alive; let idle ones close before ours do.
  server.keepAliveTimeout = 65_000;
  const bound = server.address() as AddressInfo;
  const port = bound.port;
  const everywhere = bound.address === '::' || bound.address === '0.0.0.0';
  const url = `http://${everywhere ? '127.0.0.1' : bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${port}`;
  // Where it can be reached, said at every start (HOST): every interface unless HOST narrows it.
  log.info(
    {
      host: bound.address,
      port,
      interfaces: everywhere ? 'all (set HOST=127.0.0.1 to keep it on this machine)' : 'this address only',
      role: config.ROLE,
      webhook: !!enqueue,
    },
    runReceiver ? 'receiver listening' : 'metrics and health listening',
  );
  for (const w of opts.warnings ?? []) log.warn(w);
  if (runReceiver && config.WEBHOOK_AUTH === 'none') {
    log.warn(
      { port },
      'WEBHOOK_AUTH=none: the webhook accepts any request; whoever reaches this port chooses the alerts, the PromQL run against Prometheus and what is posted to Slack',
    );
  }
  closers.http = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  if (runWorker) log.info({ concurrency: config.WORKER_CONCURRENCY, role: config.ROLE }, 'worker started');

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
      for (const step of SHUTDOWN_ORDER) {
        const close = closers[step];
        if (!close) continue;
        const left = Math.max(100, deadline - Date.now());
        const timedOut = await Promise.race([
          close(left).then(
            () => false,
            (err: Error) => {
              log.warn({ step, err: err.message }, 'shutdown step failed');
              return false;
            },
          ),
          new Promise<boolean>((r) => setTimeout(() => r(true), left).unref()),
        ]);
        if (timedOut) log.warn({ step }, 'shutdown step ran past the deadline; going on');
      }
      if (opts.onShutdown) await opts.onShutdown().catch(() => undefined);
      log.info('stopped');
      log.flush?.();
    })());

  return { url, log, metrics, shutdown };
}
