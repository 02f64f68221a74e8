#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { createRedis } from './clients/redis';
import pino, { type Logger } from 'pino';
import { ConfigError, loadConfig, secretValues, unknownSettings, webhookAuthProblem, type Config } from './config';
import { NoDedup } from './dedup';
import { evidenceBundleSchema, isEvidenceBundle, type EvidenceBundle } from './model/evidence';
import { runDemo } from './demo';
import { createLogger } from './logger';
import { buildPipelineDeps, startService } from './main';
import { annotateGroup, chartOf, NarrationPendingError, renarrateGroup } from './pipeline';
import { analyze } from './analyze';
import { analyzeOptions } from './wiring';
import type { AnnotationRecord } from './model/record';
import { DeadLetters } from './queue/dead-letters';
import { QUEUE_NAME } from './queue/job';
import { describeIssues, webhookPayloadSchema, type WebhookPayload } from './model/alert';
import { formatPlan, planRoutes } from './route/plan';
import { scrubStream } from './scrub/stream';
import { currentTraceparent, initTelemetry, logMixin, startAlertSpan } from './telemetry';

const USAGE = `usage: alert-annotator <command>

commands:
  serve                         run the service (ROLE=receiver|worker|all)
  replay <payload.json|bundle.json> [--save-evidence FILE] [--publish] [--chart FILE.png]
                                run the whole pipeline once, in-process and without Redis;
                                prints one annotation record per alert as a JSON line;
                                --chart writes the chart the Slack thread gets as a PNG
  demo [--json] [incident ...]  the pipeline on the example incidents it ships (examples/incidents/),
                                in-process with no service: prints each Slack card as text, or
                                with --json the annotation records; an incident is a shipped
                                name or an evidence bundle file
  scrub                         stdin → stdout through the PII/secret scrubber, line by line
  routes test <payload.json>    which route (ROUTES_FILE) and tenant each part of a notification
                                takes, and why
  failed list                   jobs that failed for good (dead letters), one JSON line each
  failed retry <id>             enqueue a dead letter's job again (and remove the dead letter)
  failed drop <id>              forget a dead letter
`;

class UsageError extends Error {}

function config(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function serve(): Promise<void> {
  const cfg = config();
  const warnings = unknownSettings(process.env);
  const refusal = webhookAuthProblem(cfg);
  if (refusal) {
    // A misspelt credential is the likely cause: its line comes first.
    process.stderr.write(warnings.map((w) => `alert-annotator: ${w}\n`).join('') + `alert-annotator: ${refusal}\n`);
    process.exit(2);
  }
  // Before the service starts: it patches http/express/ioredis for the receiver and worker.
  const telemetry = initTelemetry({ endpoint: cfg.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: cfg.OTEL_SERVICE_NAME });
  const service = await startService(cfg, { logMixin, traceparent: currentTraceparent, onShutdown: () => telemetry.shutdown(), warnings });
  let signals = 0;
  const stop = (sig: string) => {
    if (++signals > 1) process.exit(1); // a second signal: stop now
    service.log.info({ signal: sig }, 'shutting down');
    void service.shutdown().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (err) => service.log.error({ err: (err as Error)?.message }, 'unhandled rejection'));
}

/** `routes test <payload.json>`: explains the routing decision without sending anything. */
function routesCommand(args: string[]): void {
  const [sub, file] = args;
  if (sub !== 'test' || !file) throw new UsageError('usage: alert-annotator routes test <payload.json>');
  const cfg = config();
  const { payload } = readInput(file);
  process.stdout.write(`${formatPlan(planRoutes(payload, { routes: cfg.routes ?? [], tenantLabel: cfg.TENANT_LABEL }))}\n`);
}

/** A file holding a webhook body, a recorded request ({headers, body}), or an evidence bundle. */
export function readInput(path: string): { payload: WebhookPayload; bundle?: EvidenceBundle } {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (isEvidenceBundle(raw)) {
    const bundle = evidenceBundleSchema.parse(raw);
    return { payload: bundle.payload, bundle };
  }
  const body = typeof raw === 'object' && raw !== null && 'body' in raw && !('alerts' in raw) ? (raw as { body: unknown }).body : raw;
  const parsed = webhookPayloadSchema.safeParse(body);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error)
      .map((i) => `${i.path}: ${i.message}`)
      .join('; ');
    throw new UsageError(`${path} is neither an Alertmanager webhook payload nor an evidence bundle (${issues})`);
  }
  return { payload: parsed.data };
}

async function replay(args: string[]): Promise<void> {
  let file: string | undefined;
  let saveTo: string | undefined;
  let chartTo: string | undefined;
  let publish = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--save-evidence') {
      saveTo = args[++i];
      if (!saveTo) throw new UsageError('--save-evidence needs a file name');
    } else if (a === '--chart') {
      chartTo = args[++i];
      if (!chartTo) throw new UsageError('--chart needs a file name (out.png)');
    } else if (a === '--publish') publish = true;
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (!file) file = a;
    else throw new UsageError(`unexpected argument ${a}`);
  }
  if (!file) throw new UsageError('replay needs a payload or bundle file');
  const cfg = config();
  // Records go to stdout; logs to stderr.
  const telemetry = initTelemetry({ endpoint: cfg.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: cfg.OTEL_SERVICE_NAME });
  const log = createLogger({ level: cfg.LOG_LEVEL, secrets: secretValues(cfg), destination: pino.destination(2), mixin: logMixin });
  for (const w of unknownSettings(process.env)) log.warn(w);
  let evidence: EvidenceBundle | undefined;
  const records = await replayInput(cfg, log, readInput(file), {
    publish,
    onEvidence: (b: EvidenceBundle) => {
      evidence = b;
      if (saveTo) writeFileSync(saveTo, `${JSON.stringify(b, null, 2)}\n`);
    },
  }).finally(() => telemetry.shutdown()); // a short run must not lose its spans
  for (const r of records) process.stdout.write(`${JSON.stringify(r)}\n`);
  if (chartTo) {
    // The firing alerts' bundle, the picture the Slack thread would get.
    const chart = evidence ? await chartOf(evidence, analyze(evidence, analyzeOptions(cfg)), analyzeOptions(cfg)) : undefined;
    if (!chart || 'reason' in chart) throw new Error(`no chart: ${chart?.reason ?? 'no firing alert, so nothing was gathered'}`);
    writeFileSync(chartTo, chart.png);
    process.stderr.write(`alert-annotator: chart written to ${chartTo} (${chart.width}x${chart.height} px)\n`);
  }
}

/**
 * One replay, in-process and without Redis: the whole pipeline over a payload (gathering
 * from the configured sources) or an evidence bundle (gathering nothing), publishing only
 * when asked. Returns the records `replay` prints.
 */
export async function replayInput(
  cfg: Config,
  log: Logger,
  { payload, bundle }: { payload: WebhookPayload; bundle?: EvidenceBundle },
  opts: { publish?: boolean; onEvidence?: (b: EvidenceBundle) => void } = {},
): Promise<AnnotationRecord[]> {
  const deps = buildPipelineDeps(cfg, log);
  const span = {
    fingerprint: payload.alerts.map((a) => a.fingerprint),
    alertname: payload.commonLabels.alertname ?? payload.alerts[0]?.labels.alertname ?? '',
    groupKey: payload.groupKey,
  };
  const runDeps = {
    ...deps,
    publishers: opts.publish ? deps.publishers : [],
    dedup: new NoDedup(),
    ...(bundle ? { now: () => new Date(bundle.now) } : {}),
  };
  const signal = new AbortController().signal;
  return startAlertSpan(span, async () => {
    const outcome = await annotateGroup(payload, runDeps, signal, {
      ...(bundle ? { bundle } : {}),
      ...(opts.onEvidence ? { onEvidence: opts.onEvidence } : {}),
    });
    if (!outcome.renarration) return outcome.records;
    // As the service does: the deterministic note first, then the model's note as an update.
    const narrated = await renarrateGroup(outcome.renarration, runDeps, signal).catch((err: unknown) => {
      if (err instanceof NarrationPendingError) return undefined;
      throw err;
    });
    if (!narrated) return outcome.records;
    return [...narrated, ...outcome.records.filter((r) => r.status === 'resolved')];
  });
}

/** `failed list|retry|drop`: the dead letters under QUEUE_PREFIX in REDIS_URL. */
async function failed(args: string[]): Promise<void> {
  const [verb, id, ...extra] = args;
  if (verb !== 'list' && verb !== 'retry' && verb !== 'drop') throw new UsageError('failed needs list, retry <id> or drop <id>');
  if (verb !== 'list' && !id) throw new UsageError(`failed ${verb} needs a dead letter id (see failed list)`);
  if (extra.length > 0 || (verb === 'list' && id)) throw new UsageError(`unexpected argument ${extra[0] ?? id}`);
  const cfg = config();
  const redis = createRedis(cfg, { maxRetriesPerRequest: 1, connectTimeout: 3000 });
  redis.on('error', () => undefined);
  const deadLetters = new DeadLetters(redis, cfg.QUEUE_PREFIX);
  const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: cfg.QUEUE_PREFIX });
  try {
    if (verb === 'list') {
      for (const e of await deadLetters.list()) process.stdout.write(`${JSON.stringify(e)}\n`);
    } else if (verb === 'drop') {
      if (!(await deadLetters.drop(id!))) throw new Error(`no dead letter ${id}`);
      process.stdout.write(`dropped ${id}\n`);
    } else {
      const r = await deadLetters.retry(queue, id!);
      if (r === 'missing') throw new Error(`no dead letter ${id}`);
      process.stdout.write(r === 'queued' ? `queued ${id} again\n` : `${id} is already in the queue; dead letter removed\n`);
    }
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}

async function demo(args: string[]): Promise<void> {
  const incidents: string[] = [];
  let json = false;
  for (const a of args) {
    if (a === '--json') json = true;
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else incidents.push(a);
  }
  const tty = process.stdout.isTTY === true;
  await runDemo({
    incidents,
    json,
    write: (text) => process.stdout.write(text),
    color: tty && !process.env.NO_COLOR,
    ...(tty && process.stdout.columns ? { width: process.stdout.columns - 1 } : {}),
  });
}

async function scrub(): Promise<void> {
  await scrubStream(process.stdin, process.stdout);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'replay':
      return replay(rest);
    case 'routes':
      return routesCommand(rest);
    case 'demo':
      return demo(rest);
    case 'scrub':
      return scrub();
    case 'failed':
      return failed(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

/** The command line: runs `argv` and sets the exit code (2 for usage errors, 1 for failures). */
export function run(argv: string[]): void {
  main(argv).catch((err: Error) => {
    if (err instanceof UsageError) {
      process.stderr.write(`alert-annotator: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(`alert-annotator: ${err.message}\n`);
    process.exit(1);
  });
}

if (require.main === module) run(process.argv.slice(2));
