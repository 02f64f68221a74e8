import type { Logger } from 'pino';
import { LokiClient } from './clients/loki';
import type { Config } from './config';
import type { Source } from './gather/source';
import { TemplateNarrator } from './narrate/template';
import type { Narrator } from './narrate/types';
import { LokiPublisher } from './publish/loki';
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

export function buildPublishers(config: Config, _log: Logger, loki = buildLokiClient(config)): Publisher[] {
  const publishers: Publisher[] = [];
  if (loki) publishers.push(new LokiPublisher(loki));
  return publishers;
}
