import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AlertmanagerClient } from './clients/alertmanager';
import type { InteractionDeps } from './interactions';
import type { Metrics } from './metrics';
import { VERDICT_LABELS } from './model/verdict';
import { reanalyzeGroup, type PipelineDeps } from './pipeline';
import { markView, payloadOfView } from './publish/group-view';
import { SlackWebApi } from './publish/slack-api';
import { SlackChartUploader } from './publish/slack-upload';
import type { Logger } from 'pino';
import { LokiClient } from './clients/loki';
import type { Config } from './config';
import type { Route } from './route/routes';
import type { AnalyzeOptions } from './analyze';
import { LokiLogSource } from './gather/loki';
import { PrometheusSource } from './gather/prometheus';
import { loadRelatedQueries } from './gather/related';
import type { Source } from './gather/source';
import { TempoSource } from './gather/tempo';
import { CHANGE_PROMETHEUS_QUERY_COUNT, ChangeSource } from './gather/changes';
import { AlertmanagerSource } from './gather/alertmanager';
import { HistorySource } from './gather/history';
import { CHANGE_JOB_LABEL, type ChangeEventInput } from './model/context';
import { MemoryCallBudget, MemoryModelGate, RedisCallBudget, RedisModelGate } from './narrate/gate';
import { GuardedNarrator } from './narrate/guard';
import type { ModelClient } from './narrate/model';
import { OllamaModel } from './narrate/ollama';
import { OpenAIModel } from './narrate/openai';
import { loadPromptTemplate } from './narrate/prompt';
import type { Narrator } from './model/narration';
import { LokiAnnotationIndex } from './dedup/loki-index';
import { LokiPublisher } from './publish/loki';
import { PagerDutyPublisher } from './publish/pagerduty';
import { RateLimitedSlack } from './publish/rollup';
import { SlackBotPublisher, SlackWebhookPublisher, type SlackBotOptions } from './publish/slack';
import { MemoryPublishState, RedisPublishState } from './publish/state';
import type { Publisher } from './publish/types';

/**
 * The single place that builds every integration from the configuration (as Alertmanager's
 * config/receiver does). Each builder returns only what is configured.
 */

export function buildLokiClient(config: Config): LokiClient | undefined {
  return config.LOKI_URL ? new LokiClient({ url: config.LOKI_URL, tenant: config.LOKI_TENANT }) : undefined;
}

/**
 * Evidence sources for the configured back ends (PROMETHEUS_URL, LOKI_URL, TEMPO_URL); each
 * gets the whole SOURCE_TIMEOUT_MS as its own budget. An unreadable RELATED_QUERIES_FILE
 * throws here, at start-up, naming the file.
 */
export function buildSources(config: Config, log: Logger, loki = buildLokiClient(config)): Source[] {
  const sources: Source[] = [];
  if (config.PROMETHEUS_URL) {
    const related = loadRelatedQueries(config.RELATED_QUERIES_FILE);
    log.debug({ related: related.length, file: config.RELATED_QUERIES_FILE ?? '(built-in)' }, 'related queries loaded');
    sources.push(
      new PrometheusSource({
        url: config.PROMETHEUS_URL,
        timeoutMs: config.SOURCE_TIMEOUT_MS,
        related,
        maxSeries: config.PROMETHEUS_MAX_SERIES,
        ...(config.PROMETHEUS_TENANT ? { tenant: config.PROMETHEUS_TENANT } : {}),
        // The change source below asks the same Prometheus: its queries count in the group's cap.
        reservedQueries: CHANGE_PROMETHEUS_QUERY_COUNT,
      }),
    );
  }
  if (loki) {
    sources.push(
      new LokiLogSource({
        client: loki,
        streamLabels: config.LOKI_STREAM_LABELS,
        lineFilter: config.LOKI_LOG_FILTER,
        limit: config.LOKI_LINE_LIMIT,
        timeoutMs: config.SOURCE_TIMEOUT_MS,
      }),
    );
  }
  if (config.TEMPO_URL) {
    sources.push(
      new TempoSource({
        url: config.TEMPO_URL,
        timeoutMs: config.SOURCE_TIMEOUT_MS,
        serviceLabels: config.SERVICE_LABELS,
        traceLimit: config.TEMPO_TRACE_LIMIT,
        slowMs: config.TEMPO_SLOW_MS,
        ...(config.TEMPO_TENANT ? { tenant: config.TEMPO_TENANT } : {}),
      }),
    );
  }
  // Beyond the telemetry (issue 12 items 3-5): what changed, what else is firing, what happened last time.
  if (loki || config.PROMETHEUS_URL) {
    sources.push(
      new ChangeSource({
        ...(loki ? { loki } : {}),
        ...(config.PROMETHEUS_URL ? { prometheusUrl: config.PROMETHEUS_URL } : {}),
        ...(config.PROMETHEUS_TENANT ? { prometheusTenant: config.PROMETHEUS_TENANT } : {}),
        serviceLabels: config.SERVICE_LABELS,
        maxSeries: config.PROMETHEUS_MAX_SERIES,
        timeoutMs: config.SOURCE_TIMEOUT_MS,
      }),
    );
  }
  if (config.ALERTMANAGER_URL) {
    sources.push(
      new AlertmanagerSource({ url: config.ALERTMANAGER_URL, serviceLabels: config.SERVICE_LABELS, timeoutMs: config.SOURCE_TIMEOUT_MS }),
    );
  }
  if (loki) {
    sources.push(
      new HistorySource({
        client: loki,
        serviceLabels: config.SERVICE_LABELS,
        limit: config.LOKI_LINE_LIMIT,
        timeoutMs: config.SOURCE_TIMEOUT_MS,
      }),
    );
  }
  return sources;
}

/** Where POST /events/change stores its events: one JSON line each in Loki, read back by ChangeSource. */
export function buildChangeStore(
  config: Config,
  loki = buildLokiClient(config),
): ((event: ChangeEventInput & { time: string }) => Promise<void>) | undefined {
  if (!loki) return undefined;
  return (event) =>
    loki.push([{ labels: { job: CHANGE_JOB_LABEL, service: event.service, kind: event.kind }, line: JSON.stringify(event) }]);
}

/** What analyze needs from the configuration; pass it as `analyze(bundle, analyzeOptions(config))`. */
export function analyzeOptions(config: Config): AnalyzeOptions {
  return {
    serviceLabels: config.SERVICE_LABELS,
    baselineMin: config.BASELINE_WINDOW_MIN,
    leadMin: config.INCIDENT_LEAD_MIN,
  };
}

/**
 * The narrator for LLM_PROVIDER: `ollama` and `openai` are model clients inside the guard;
 * `none` is no narrator at all (the pipeline publishes the deterministic note). `redis` shares the concurrency cap and circuit breaker across
 * worker processes (keys under QUEUE_PREFIX); without it (the CLI) they are per process.
 */
/** How long a model slot stays taken without renewal (src/narrate/gate.ts). */
const SLOT_TTL_MS = 15_000;

export function buildNarrator(config: Config, log: Logger, redis?: Redis): Narrator | undefined {
  if (config.LLM_PROVIDER === 'none') return undefined;
  const client: ModelClient =
    config.LLM_PROVIDER === 'ollama'
      ? new OllamaModel({ host: config.OLLAMA_HOST, model: config.OLLAMA_MODEL })
      : new OpenAIModel({ apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL, model: config.OPENAI_MODEL });
  const gateOptions = {
    maxConcurrency: config.LLM_MAX_CONCURRENCY,
    threshold: config.LLM_BREAKER_THRESHOLD,
    cooldownMs: config.LLM_BREAKER_COOLDOWN_MS,
    // Renewed while its call runs: a slot left by a dead worker, or whose release Redis lost
    // in an outage, is free again within 15 s (it used to block the model for 2 × LLM_TIMEOUT_MS).
    slotTtlMs: SLOT_TTL_MS,
  };
  const gate = redis
    ? new RedisModelGate(redis, `${config.QUEUE_PREFIX}:llm:${client.provider}:${client.model}`, gateOptions)
    : new MemoryModelGate(gateOptions);
  const cap = config.LLM_MAX_CALLS_PER_HOUR;
  // One cap for every model: it is a cost cap.
  const budget =
    cap === undefined ? undefined : redis ? new RedisCallBudget(redis, `${config.QUEUE_PREFIX}:llm:calls`, cap) : new MemoryCallBudget(cap);
  return new GuardedNarrator({
    client,
    gate,
    ...(budget ? { budget } : {}),
    template: loadPromptTemplate(config.LLM_PROMPT_VERSION),
    timeoutMs: config.LLM_TIMEOUT_MS,
    maxOutputTokens: config.LLM_MAX_OUTPUT_TOKENS,
    log: log.child({ component: 'narrator' }),
    allowedUrls: config.GRAFANA_URL ? [config.GRAFANA_URL] : [],
  });
}

/**
 * Loki, Slack and PagerDuty, each when configured. `redis` holds what the publishers
 * already delivered per group (Slack ts, PagerDuty dedup key): pass one in the service, so
 * retries and other worker replicas see it; without it (the one-shot CLI) memory is used.
 */
export function buildPublishers(config: Config, log: Logger, loki = buildLokiClient(config), redis?: Redis): Publisher[] {
  const publishers: Publisher[] = [];
  const state = redis ? new RedisPublishState(redis, config.QUEUE_PREFIX) : new MemoryPublishState();
  const common = {
    grafanaUrl: config.GRAFANA_URL,
    serviceLabels: config.SERVICE_LABELS,
    logs: { streamLabels: config.LOKI_STREAM_LABELS, lineFilter: config.LOKI_LOG_FILTER },
    log,
  };
  if (config.SLACK_BOT_TOKEN && config.SLACK_CHANNEL) {
    const bot = new SlackBotPublisher(state, {
      ...common,
      token: config.SLACK_BOT_TOKEN,
      channel: config.SLACK_CHANNEL,
      apiUrl: config.SLACK_API_URL,
      minSeverity: config.SLACK_MIN_SEVERITY,
      // After a Redis flush the Loki record still names the group's message.
      ...(loki ? { findTs: findTsIn(new LokiAnnotationIndex(loki)) } : {}),
      interactive: config.SLACK_SIGNING_SECRET !== undefined,
    });
    // The cap needs shared counters: without Redis (the one-shot CLI) there is nothing to cap.
    const perMinute = config.SLACK_MAX_NEW_PER_MINUTE;
    publishers.push(
      perMinute && redis
        ? new RateLimitedSlack(bot, { redis, prefix: config.QUEUE_PREFIX, route: config.ROUTE_NAME ?? 'default', perMinute, log })
        : bot,
    );
  } else if (config.SLACK_WEBHOOK_URL) {
    publishers.push(
      new SlackWebhookPublisher(state, { ...common, webhookUrl: config.SLACK_WEBHOOK_URL, minSeverity: config.SLACK_MIN_SEVERITY }),
    );
  }
  if (config.PAGERDUTY_ROUTING_KEY) {
    publishers.push(
      new PagerDutyPublisher(state, {
        ...common,
        routingKey: config.PAGERDUTY_ROUTING_KEY,
        eventsUrl: config.PAGERDUTY_EVENTS_URL,
        minSeverity: config.PAGERDUTY_MIN_SEVERITY,
      }),
    );
  }
  if (loki) publishers.push(new LokiPublisher(loki, { state, maxLineBytes: config.LOKI_MAX_LINE_BYTES }));
  return publishers;
}

/**
 * The chart into the Slack thread (SLACK_CHART, bot mode): once per group, remembered in the
 * same publish state as the message (Redis in the service, memory in the one-shot CLI).
 */
export function buildChartUploader(config: Config, log: Logger, redis?: Redis, metrics?: Metrics): SlackChartUploader | undefined {
  if (!config.SLACK_CHART || !config.SLACK_BOT_TOKEN || !config.SLACK_CHANNEL) return undefined;
  return new SlackChartUploader({
    api: new SlackWebApi({ token: config.SLACK_BOT_TOKEN, apiUrl: config.SLACK_API_URL, log }),
    state: redis ? new RedisPublishState(redis, config.QUEUE_PREFIX) : new MemoryPublishState(),
    log,
    ...(metrics ? { count: (outcome) => metrics.chartUploads.inc({ outcome }) } : {}),
  });
}

/**
 * What this start goes without, one line per integration left unset, so a first start with
 * nothing configured says what it will and will not do. `serve` logs each at info.
 */
export function missingPieces(config: Config): { unset: string; line: string }[] {
  const out: { unset: string; line: string }[] = [];
  const add = (unset: string, effect: string) => out.push({ unset, line: `${unset} unset: ${effect}` });
  if (config.ROLE !== 'receiver') {
    if (!config.PROMETHEUS_URL) add('PROMETHEUS_URL', 'no metric evidence');
    if (!config.LOKI_URL) add('LOKI_URL', 'no log evidence, no annotation records, no durable dedup (Redis only)');
    if (!config.TEMPO_URL) add('TEMPO_URL', 'no trace evidence');
    if (!(config.SLACK_BOT_TOKEN && config.SLACK_CHANNEL) && !config.SLACK_WEBHOOK_URL)
      add('SLACK_*', 'nothing posted to Slack (set SLACK_BOT_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL)');
    if (!config.PAGERDUTY_ROUTING_KEY) add('PAGERDUTY_ROUTING_KEY', 'no PagerDuty events');
    if (!config.GRAFANA_URL) add('GRAFANA_URL', "links go to the alert's source graph instead of Grafana");
    if (config.LLM_PROVIDER === 'none') out.push({ unset: 'LLM_PROVIDER', line: 'LLM_PROVIDER=none: deterministic notes only' });
  }
  if (!config.OTEL_EXPORTER_OTLP_ENDPOINT) add('OTEL_EXPORTER_OTLP_ENDPOINT', "the annotator's own traces are not exported");
  return out;
}

/** Where the notes' prose comes from, for the start-up log. */
export function narratorLine(config: Config): string | undefined {
  if (config.LLM_PROVIDER === 'ollama')
    return `LLM_PROVIDER=ollama: notes narrated by ${config.OLLAMA_MODEL} at ${config.OLLAMA_HOST}; the deterministic note goes out while it does not answer (LLM_PROVIDER=none to skip the model)`;
  if (config.LLM_PROVIDER === 'openai')
    return `LLM_PROVIDER=openai: notes narrated by ${config.OPENAI_MODEL}${config.OPENAI_BASE_URL ? ` at ${new URL(config.OPENAI_BASE_URL).origin}` : ''}`;
  return undefined;
}

/** user:pass into an http(s) URL, where the clients read basic auth from. */
function withBasicAuth(url: string | undefined, basicAuth: string | undefined): string | undefined {
  if (!url || !basicAuth) return url;
  const u = new URL(url);
  const i = basicAuth.indexOf(':');
  u.username = encodeURIComponent(basicAuth.slice(0, i));
  u.password = encodeURIComponent(basicAuth.slice(i + 1));
  return u.toString();
}

/**
 * The configuration one routed part of a notification runs with: the route's Slack and
 * PagerDuty targets, severities and narration, and the tenant's back ends and org id. Every
 * builder above then works unchanged, so a tenant's queries, records and messages can only
 * use that tenant's settings.
 */
export function configForPart(config: Config, route: Route, tenant: string | undefined): Config {
  const c: Config = { ...config };
  if (route.quiet || route.slack === 'none') {
    c.SLACK_CHANNEL = undefined;
    c.SLACK_WEBHOOK_URL = undefined;
  } else if (route.slack && 'channel' in route.slack) {
    c.SLACK_CHANNEL = route.slack.channel;
    c.SLACK_WEBHOOK_URL = undefined;
  } else if (route.slack && 'webhookUrl' in route.slack) {
    c.SLACK_WEBHOOK_URL = route.slack.webhookUrl;
    c.SLACK_CHANNEL = undefined;
  }
  if (route.quiet || route.pagerduty === 'none') c.PAGERDUTY_ROUTING_KEY = undefined;
  else if (route.pagerduty) c.PAGERDUTY_ROUTING_KEY = route.pagerduty.routingKey;
  if (route.minSeverity.slack) c.SLACK_MIN_SEVERITY = route.minSeverity.slack;
  if (route.minSeverity.pagerduty) c.PAGERDUTY_MIN_SEVERITY = route.minSeverity.pagerduty;
  if (!route.narrate) c.LLM_PROVIDER = 'none';
  if (route.slackPerMinute) c.SLACK_MAX_NEW_PER_MINUTE = route.slackPerMinute;
  c.ROUTE_NAME = route.name;
  if (tenant !== undefined) {
    const t = config.tenants?.[tenant];
    const orgId = t?.orgId ?? tenant;
    c.LOKI_TENANT = orgId;
    c.TEMPO_TENANT = orgId;
    c.PROMETHEUS_TENANT = orgId;
    c.LOKI_URL = withBasicAuth(t?.lokiUrl ?? config.LOKI_URL, t?.basicAuth);
    c.PROMETHEUS_URL = withBasicAuth(t?.prometheusUrl ?? config.PROMETHEUS_URL, t?.basicAuth);
    c.TEMPO_URL = withBasicAuth(t?.tempoUrl ?? config.TEMPO_URL, t?.basicAuth);
  }
  return c;
}

/** The group's Slack message as the Loki records of its alerts name it. */
function findTsIn(index: LokiAnnotationIndex): NonNullable<SlackBotOptions['findTs']> {
  return (event, signal) => index.slackTs(event.payload.groupKey, event.records, signal);
}

/**
 * What the worker needs for Slack clicks: the bot's Web API, Loki for feedback, Alertmanager
 * for silences, and the re-analysis of a remembered group through the pipeline.
 */
export function buildInteractionDeps(
  config: Config,
  log: Logger,
  opts: {
    redis: Redis;
    pipeline: PipelineDeps;
    /** The pipeline of a route and tenant (main's depsFor): a re-analysis runs where the group was published. */
    pipelineFor?: (route: string | undefined, tenant: string | undefined) => PipelineDeps;
    loki?: LokiClient;
    metrics?: Metrics;
  },
): InteractionDeps {
  const state = new RedisPublishState(opts.redis, config.QUEUE_PREFIX);
  return {
    log: log.child({ component: 'interactions' }),
    ...(config.SLACK_BOT_TOKEN ? { slack: new SlackWebApi({ token: config.SLACK_BOT_TOKEN, apiUrl: config.SLACK_API_URL, log }) } : {}),
    ...(opts.loki ? { loki: opts.loki } : {}),
    ...(config.ALERTMANAGER_URL ? { alertmanager: new AlertmanagerClient({ url: config.ALERTMANAGER_URL }) } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    // Under the Slack publisher's own group lock ('slack'), so a rendering in progress cannot
    // write back a view without the new mark.
    markGroupCard: (groupKey, line, done, signal, apply) =>
      state.withLock(groupKey, 'slack', signal, async () => {
        const { state: known } = await state.load(groupKey, undefined, ['view']);
        if (known.view) await state.save(groupKey, { view: markView(known.view, line, done) });
        await apply();
      }),
    reanalyze: async (groupKey, signal) => {
      const { state: known } = await state.load(groupKey, undefined, ['view']);
      const payload = known.view && payloadOfView(groupKey, known.view);
      if (!payload) return undefined;
      // The route and tenant the group's records were published under (their channel, links, back ends).
      const { route, tenant } = known.view!.lead;
      const pipeline = opts.pipelineFor?.(route, tenant) ?? opts.pipeline;
      const records = await reanalyzeGroup(payload, pipeline, signal, randomUUID());
      const verdict = records[0]?.verdict;
      return verdict ? { verdict: VERDICT_LABELS[verdict] } : {};
    },
  };
}
