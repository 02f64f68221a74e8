import request from 'supertest';
import { annotationRecordSchema } from '../src/model/record';
import { FakeLoki } from './fakes/loki';
import { FakeOllama } from './fakes/ollama';
import { FAKE_SLACK_TOKEN, FakeSlack } from './fakes/slack';
import { fixture, startTestService, uniquePrefix, type TestService } from './helpers/service';
import { until } from './helpers/until';

/**
 * The publish flow through the service (receiver + worker, real Redis) with fake Loki,
 * Slack and model: the deterministic note goes out first, the model is asked once per
 * group whatever fails afterwards, and its note follows as an update.
 */

const MODEL = 'qwen2.5:3b-instruct';
let slack: FakeSlack;
let loki: FakeLoki;
let ollama: FakeOllama;

beforeEach(async () => {
  [slack, loki, ollama] = await Promise.all([new FakeSlack().start(), new FakeLoki().start(), new FakeOllama([MODEL]).start()]);
  ollama.fallback = { kind: 'good' };
});
afterEach(async () => {
  await Promise.all([slack.stop(), loki.stop(), ollama.stop()]);
});

function start(extra: Record<string, string> = {}): Promise<TestService> {
  return startTestService({
    QUEUE_PREFIX: uniquePrefix('flow'),
    LOKI_URL: loki.url,
    SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
    SLACK_CHANNEL: '#alerts',
    SLACK_API_URL: `${slack.url}/api`,
    LLM_PROVIDER: 'ollama',
    OLLAMA_HOST: ollama.url,
    OLLAMA_MODEL: MODEL,
    LLM_BREAKER_THRESHOLD: '100',
    JOB_BACKOFF_MS: '100',
    ...extra,
  });
}

/** `count` groups of one new firing alert each. */
async function sendGroups(svc: TestService, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const body = structuredClone(fixture('am-webhook-01').body) as Record<string, unknown> & { alerts: Record<string, unknown>[] };
    body.groupKey = `${String(body.groupKey)}/flow-${i}`;
    body.alerts[0]!.fingerprint = `f10a${i.toString(16).padStart(12, '0')}`;
    body.alerts[0]!.startsAt = new Date(Date.now() - 120_000).toISOString();
    const res = await request(svc.url).post('/webhook/alertmanager').send(body);
    expect(res.status).toBe(200);
  }
}

const modelCalls = () => ollama.requestsTo('/api/chat').length;
const narrated = () => loki.records().filter((r) => annotationRecordSchema.parse(r).narrator === `ollama:${MODEL}`);

describe('one model call per group, ever', () => {
  it('asks the model once per group while Loki is down and then back', async () => {
    loki.failNext({ status: 503, body: 'Ingester is unavailable' }, Infinity);
    const svc = await start();
    try {
      await sendGroups(svc, 3);
      // Several publish attempts fail on Loki before it comes back.
      await until('retries against the Loki outage', () => loki.requestsTo('/loki/api/v1/push').length >= 9, 20_000);
      loki.recover();
      await svc.waitForJobs({ timeoutMs: 30_000 });
      await until('the three model notes in Loki', () => narrated().length === 3);
      expect(modelCalls()).toBe(3);
      expect(slack.topLevel()).toHaveLength(3);
    } finally {
      await svc.stop();
    }
  });

  it('asks the model once per group while Slack answers 500 and then 429', async () => {
    slack.failNext({ status: 500, body: 'oops' }, Infinity);
    const svc = await start();
    try {
      await sendGroups(svc, 3);
      await until('retries against the Slack outage', () => slack.requests.length >= 6, 20_000);
      slack.recover();
      slack.failNext({ status: 429, headers: { 'Retry-After': '0' }, body: { ok: false, error: 'ratelimited' } }, 6);
      await svc.waitForJobs({ timeoutMs: 30_000 });
      await until('the three model notes in Loki', () => narrated().length === 3);
      expect(modelCalls()).toBe(3);
      expect(slack.topLevel()).toHaveLength(3);
    } finally {
      await svc.stop();
    }
  });

  it('publishes a narration whose first publish failed from the answer kept in the job, without asking the model again', async () => {
    ollama.fallback = { kind: 'good', delayMs: 500 };
    const svc = await start();
    try {
      await sendGroups(svc, 1);
      await until('the model to be asked', () => modelCalls() === 1);
      // Loki refuses the model note's record a few times: the narration job retries its publishing.
      loki.failNext({ status: 503, body: 'Ingester is unavailable' }, 3);
      await svc.waitForJobs({ timeoutMs: 30_000 });
      await until('the model note in Loki', () => narrated().length === 1);
      expect(modelCalls()).toBe(1);
      // The deterministic note's record, three refusals, the model note's record.
      expect(loki.requestsTo('/loki/api/v1/push')).toHaveLength(5);
    } finally {
      await svc.stop();
    }
  });
});
