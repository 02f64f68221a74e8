import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LokiClient } from './clients/loki';
import type { Config } from './config';
import type { Source } from './gather/source';
import { TemplateNarrator } from './narrate/template';
import type { Narrator } from './narrate/types';
import { LokiPublisher } from './publish/loki';
import { PagerDutyPublisher } from './publish/pagerduty';
import { SlackBotPublisher, SlackWebhookPublisher } from './publish/slack';
import { MemoryPublishState, RedisPublishState } from './publish/state';
import type { Publisher } from './publish/types';

/**
 * The single place that builds every integration from the configuration (as Alertmanager's
 * config/receiver does). Each builder returns only what is configured.
 */

export function buildLokiClient(config: Config): LokiClient | undefined {
  return config.LOKI_URL ? new LokiClient({ url: config.LOKI_URL, tenant: config.LOKI_TENANT }) : undefined;
}

export function buildSources(config: Config, _log: Logger): Source[] {
  void config;
  return [];
}

export function buildNarrator(config: Config, _log: Logger): Narrator {
  void config;
  return new TemplateNarrator();
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
    serviceLabels: config.SERVICE_LABELS.split(',').map((s) => s.trim()).filter(Boolean),
    log,
  };
  if (config.SLACK_BOT_TOKEN && config.SLACK_CHANNEL) {
    publishers.push(
      new SlackBotPublisher(state, {
        ...common,
        token: config.SLACK_BOT_TOKEN,
        channel: config.SLACK_CHANNEL,
        apiUrl: config.SLACK_API_URL,
        minSeverity: config.SLACK_MIN_SEVERITY,
      }),
    );
  } else if (config.SLACK_WEBHOOK_URL) {
    publishers.push(new SlackWebhookPublisher(state, { ...common, webhookUrl: config.SLACK_WEBHOOK_URL, minSeverity: config.SLACK_MIN_SEVERITY }));
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
  if (loki) publishers.push(new LokiPublisher(loki));
  return publishers;
}
