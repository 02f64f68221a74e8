import { Redis } from 'ioredis';
import { loadConfig } from '../src/config';
import { missingPieces } from '../src/wiring';
import { REPO_ROOT, start, stopAll, until, type Started } from './e2e/process';
import { deleteKeys, fixture, freePort, REDIS_URL, uniquePrefix } from './helpers/service';

/** Every variable that would configure an integration, set empty: empty counts as unset. */
const NOTHING = Object.fromEntries(
  [
    'PROMETHEUS_URL',
    'LOKI_URL',
    'TEMPO_URL',
    'SLACK_BOT_TOKEN',
    'SLACK_CHANNEL',
    'SLACK_WEBHOOK_URL',
    'PAGERDUTY_ROUTING_KEY',
    'GRAFANA_URL',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'LLM_PROVIDER',
    'WEBHOOK_BEARER_TOKEN',
    'WEBHOOK_BASIC_AUTH',
  ].map((k) => [k, '']),
);

const EXPECTED = [
  'PROMETHEUS_URL unset: no metric evidence',
  'LOKI_URL unset: no log evidence, no annotation records, no durable dedup (Redis only)',
  'TEMPO_URL unset: no trace evidence',
  'SLACK_* unset: nothing posted to Slack',
  'PAGERDUTY_ROUTING_KEY unset: no PagerDuty events',
  "GRAFANA_URL unset: links go to the alert's source graph instead of Grafana",
  "OTEL_EXPORTER_OTLP_ENDPOINT unset: the annotator's own traces are not exported",
];

const logLines = (p: Started): { msg?: string }[] =>
  p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string });

describe('serve with nothing configured', () => {
  const prefix = uniquePrefix('unconfigured');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  afterAll(async () => {
    await stopAll();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('starts, says in one line each what it goes without, and still annotates an alert', async () => {
    const port = await freePort();
    // Only the Redis address, a port and a prefix of our own; the webhook left open on purpose.
    const serve = start(process.execPath, [`${REPO_ROOT}/bin/alert-annotator.js`, 'serve'], {
      env: {
        ...NOTHING,
        REDIS_URL,
        PORT: String(port),
        QUEUE_PREFIX: prefix,
        WEBHOOK_AUTH: 'none',
        OLLAMA_HOST: `http://127.0.0.1:${await freePort()}`,
      },
    });
    await until(
      'the worker starts',
      async () => logLines(serve).some((l) => l.msg === 'worker started') || undefined,
      60_000,
      () => serve.output().slice(-3000),
    );
    const messages = logLines(serve).map((l) => l.msg ?? '');
    for (const line of EXPECTED) expect(messages.some((m) => m.startsWith(line))).toBe(true);
    // Each missing piece exactly once, before the service says it is listening.
    const listening = messages.indexOf('receiver listening');
    for (const line of EXPECTED) expect(messages.findIndex((m) => m.startsWith(line))).toBeLessThan(listening);
    for (const line of EXPECTED) expect(messages.filter((m) => m.startsWith(line))).toHaveLength(1);
    expect(messages.some((m) => m.startsWith('LLM_PROVIDER=ollama: notes narrated by'))).toBe(true);

    // The model address answers nothing: the deterministic note still goes out.
    const am = fixture('am-webhook-04');
    const res = await fetch(`http://127.0.0.1:${port}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(am.body),
    });
    expect(res.status).toBeLessThan(300);
    await until(
      'the alerts are annotated',
      async () => logLines(serve).some((l) => l.msg === 'alert annotated') || undefined,
      30_000,
      () => serve.output().slice(-3000),
    );
    await serve.stop();
  }, 120_000);
});

describe('missingPieces', () => {
  const cfg = (env: Record<string, string>) => loadConfig(env);

  it('names nothing for a worker with every integration configured', () => {
    const all = {
      PROMETHEUS_URL: 'http://p:9090',
      LOKI_URL: 'http://l:3100',
      TEMPO_URL: 'http://t:3200',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.example/x',
      PAGERDUTY_ROUTING_KEY: 'r'.repeat(32),
      GRAFANA_URL: 'http://g:3000',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://o:4318',
    };
    expect(missingPieces(cfg(all))).toEqual([]);
    expect(missingPieces(cfg({ ...all, LLM_PROVIDER: 'none' })).map((p) => p.line)).toEqual([
      'LLM_PROVIDER=none: deterministic notes only',
    ]);
    // A bot token without a channel is refused by the config; a token and channel count as Slack.
    const { SLACK_WEBHOOK_URL: _unused, ...noSlack } = all;
    expect(missingPieces(cfg(noSlack)).map((p) => p.unset)).toEqual(['SLACK_*']);
    expect(missingPieces(cfg({ ...noSlack, SLACK_BOT_TOKEN: 'xoxb-1', SLACK_CHANNEL: 'C1' }))).toEqual([]);
  });

  it('leaves out what only the worker uses for a receiver', () => {
    expect(missingPieces(cfg({ ROLE: 'receiver' })).map((p) => p.unset)).toEqual(['OTEL_EXPORTER_OTLP_ENDPOINT']);
  });
});
