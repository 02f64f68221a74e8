import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../src/config';
import { NoDedup } from '../src/dedup';
import { buildPipelineDeps } from '../src/main';
import { Metrics } from '../src/metrics';
import { evidenceBundleSchema, type EvidenceBundle } from '../src/model/evidence';
import { annotationRecordSchema } from '../src/model/record';
import { annotateGroup, chartOf, type PipelineDeps } from '../src/pipeline';
import { analyze } from '../src/analyze';
import { SlackWebApi } from '../src/publish/slack-api';
import { SlackChartUploader, type ChartFile } from '../src/publish/slack-upload';
import { MemoryPublishState, RedisPublishState } from '../src/publish/state';
import { buildChartUploader } from '../src/wiring';
import { FakeLoki } from './fakes/loki';
import { FAKE_SLACK_TOKEN, FakeSlack } from './fakes/slack';
import { deleteKeys, REDIS_URL, uniquePrefix } from './helpers/service';

/**
 * The chart into the Slack thread (issue 13 item 3) against the fake Slack, which implements
 * both upload steps and checks the bytes are a PNG: once per group across job retries and
 * workers, and never at the cost of the message or the record.
 */

const bundle: EvidenceBundle = evidenceBundleSchema.parse(
  JSON.parse(readFileSync(join(__dirname, '..', 'examples', 'incidents', 'cpu-saturation-payments.json'), 'utf8')),
);
const log = pino({ level: 'silent' });

let slack: FakeSlack;
let loki: FakeLoki;
beforeEach(async () => {
  [slack, loki] = await Promise.all([new FakeSlack().start(), new FakeLoki().start()]);
});
afterEach(async () => {
  await Promise.all([slack.stop(), loki.stop()]);
});

jest.setTimeout(60_000);

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    LLM_PROVIDER: 'none',
    LOKI_URL: loki.url,
    SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
    SLACK_CHANNEL: 'C0ALERTS',
    SLACK_API_URL: `${slack.url}/api`,
    ...extra,
  };
}

/** One worker's pipeline, as the service builds it (publish state in `redis` when given). */
function deps(opts: { redis?: Redis; prefix?: string; metrics?: Metrics; extra?: Record<string, string> } = {}): PipelineDeps {
  const cfg = loadConfig(env({ ...(opts.prefix ? { QUEUE_PREFIX: opts.prefix } : {}), ...opts.extra }));
  return {
    ...buildPipelineDeps(cfg, log, { ...(opts.redis ? { redis: opts.redis } : {}), ...(opts.metrics ? { metrics: opts.metrics } : {}) }),
    dedup: new NoDedup(),
    now: () => new Date(bundle.now),
  };
}

const run = (d: PipelineDeps) => annotateGroup(bundle.payload, d, new AbortController().signal, { bundle });

describe('the chart in the thread', () => {
  it('uploads one PNG into the thread of the group message, once across job retries', async () => {
    const d = deps();
    const first = await run(d);
    expect(first.chart).toBe('uploaded');
    const [message] = slack.topLevel();
    expect(slack.uploads).toEqual([expect.objectContaining({ channel: 'C0ALERTS', threadTs: message!.ts, filename: 'alert-chart.png' })]);
    const upload = slack.uploads[0]!;
    expect(upload.width).toBeGreaterThan(600);
    expect(upload.height).toBeGreaterThan(300);
    expect(upload.title).toMatch(/CheckoutLatencyHigh/);
    // The three steps, in order.
    expect(slack.requests.map((r) => r.path).filter((p) => /files\.|upload\/v1/.test(p))).toEqual([
      '/api/files.getUploadURLExternal',
      expect.stringMatching(/^\/upload\/v1\//),
      '/api/files.completeUploadExternal',
    ]);
    // The record names the message the chart went under.
    expect(annotationRecordSchema.parse(loki.records()[0]).slackTs).toBe(message!.ts);

    // The job runs again (a retry after a later step failed): no second message, no second upload.
    const again = await run(d);
    expect(again.chart).toBe('already');
    expect(slack.topLevel()).toHaveLength(1);
    expect(slack.uploads).toHaveLength(1);
    expect(slack.requestsTo('/api/files.getUploadURLExternal')).toHaveLength(1);
  });

  it('uploads once per group across two workers sharing Redis', async () => {
    const prefix = uniquePrefix('chart');
    const redis = new Redis(REDIS_URL);
    try {
      const [a, b] = [deps({ redis, prefix }), deps({ redis, prefix })];
      const outcomes = [(await run(a)).chart, (await run(b)).chart];
      expect(outcomes).toEqual(['uploaded', 'already']);
      expect(slack.topLevel()).toHaveLength(1);
      expect(slack.uploads).toHaveLength(1);
    } finally {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });

  it('without files:write the message and the record go out as before; the failure is counted', async () => {
    slack.scopes.delete('files:write');
    const metrics = new Metrics();
    const outcome = await run(deps({ metrics }));
    expect(outcome.chart).toBe('failed');
    expect(outcome.records).toHaveLength(1);
    expect(slack.topLevel()).toHaveLength(1);
    expect(slack.uploads).toHaveLength(0);
    expect(loki.records()).toHaveLength(1);
    expect(annotationRecordSchema.parse(loki.records()[0]).slackTs).toBe(slack.topLevel()[0]!.ts);
    expect(await metrics.registry.getSingleMetricAsString('alert_annotator_chart_uploads_total')).toMatch(
      /alert_annotator_chart_uploads_total\{outcome="failed"\} 1/,
    );
    // Not remembered as done: once the scope is granted, the group's next job uploads it.
    slack.scopes.add('files:write');
    expect((await run(deps())).chart).toBe('uploaded');
  });

  it('SLACK_CHART=false uploads nothing; webhook mode has no thread to upload into', async () => {
    expect((await run(deps({ extra: { SLACK_CHART: 'false' } }))).chart).toBeUndefined();
    expect(slack.topLevel()).toHaveLength(1);
    expect(slack.requestsTo('/api/files.')).toHaveLength(0);
    const cfg = loadConfig({ LLM_PROVIDER: 'none', SLACK_WEBHOOK_URL: `${slack.url}/services/T0000/B0000/fakewebhooksecret` });
    expect(buildChartUploader(cfg, log)).toBeUndefined();
    expect(() => loadConfig(env({ SLACK_CHART: 'yes' }))).toThrow(/SLACK_CHART/);
  });

  it('a bundle with nothing to draw posts the message, uploads nothing, and is not drawn again', async () => {
    const noAlertSeries = { ...bundle, series: bundle.series.filter((s) => s.query === null) };
    const d = deps();
    const first = await annotateGroup(noAlertSeries.payload, d, new AbortController().signal, { bundle: noAlertSeries });
    expect(first.chart).toBe('skipped');
    expect(slack.topLevel()).toHaveLength(1);
    expect(slack.requestsTo('/api/files.')).toHaveLength(0);
    expect((await annotateGroup(noAlertSeries.payload, d, new AbortController().signal, { bundle: noAlertSeries })).chart).toBe('already');
  });
});

describe('SlackChartUploader', () => {
  /** A real chart's bytes, from the pipeline's own renderer. */
  async function png(): Promise<Buffer> {
    const r = await chartOf(bundle, analyze(bundle));
    if ('reason' in r) throw new Error(r.reason);
    return r.png;
  }

  async function parent(): Promise<string> {
    const api = new SlackWebApi({ token: FAKE_SLACK_TOKEN, apiUrl: `${slack.url}/api` });
    const r = await api.call('chat.postMessage', { channel: 'C0ALERTS', text: 'parent' });
    return r.ts as string;
  }

  it('gives up at its timeout when the upload URL does not answer, and says failed without throwing', async () => {
    const bytes = await png();
    const threadTs = await parent();
    const warnings: string[] = [];
    const uploader = new SlackChartUploader({
      api: new SlackWebApi({ token: FAKE_SLACK_TOKEN, apiUrl: `${slack.url}/api` }),
      state: new MemoryPublishState(),
      timeoutMs: 300,
      log: { info: () => undefined, warn: (o: { reason: string }) => warnings.push(o.reason) } as never,
      // An upload URL that never answers: only the timeout ends the wait.
      fetch: (_url, init) =>
        new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))),
    });
    const chart: ChartFile = { png: bytes, title: 't', filename: 'c.png' };
    const outcome = await uploader.uploadOnce(
      { groupKey: 'g', channel: 'C0ALERTS', threadTs, chart: async () => chart },
      new AbortController().signal,
    );
    expect(outcome).toBe('failed');
    expect(warnings).toEqual(['timeout']);
    expect(slack.uploads).toHaveLength(0);
    // The URL it was given never reaches a log line or an error.
    expect(JSON.stringify(warnings)).not.toContain('/upload/v1/');
  });

  it('two concurrent uploads of one group share one file', async () => {
    const bytes = await png();
    const threadTs = await parent();
    const uploader = new SlackChartUploader({
      api: new SlackWebApi({ token: FAKE_SLACK_TOKEN, apiUrl: `${slack.url}/api` }),
      state: new MemoryPublishState(),
    });
    const req = { groupKey: 'g', channel: 'C0ALERTS', threadTs, chart: async () => ({ png: bytes, title: 't', filename: 'c.png' }) };
    const signal = new AbortController().signal;
    const outcomes = await Promise.all([uploader.uploadOnce(req, signal), uploader.uploadOnce(req, signal)]);
    expect(outcomes.sort()).toEqual(['already', 'uploaded']);
    expect(slack.uploads).toHaveLength(1);
  });

  it('refuses a thread that does not exist (invalid_thread_ts) and bytes that are not a PNG, as Slack would', async () => {
    const api = new SlackWebApi({ token: FAKE_SLACK_TOKEN, apiUrl: `${slack.url}/api` });
    const uploader = new SlackChartUploader({ api, state: new MemoryPublishState() });
    const signal = new AbortController().signal;
    const bytes = await png();
    const noThread = await uploader.uploadOnce(
      { groupKey: 'a', channel: 'C0ALERTS', threadTs: '1.000001', chart: async () => ({ png: bytes, title: 't', filename: 'c.png' }) },
      signal,
    );
    expect(noThread).toBe('failed');
    const threadTs = await parent();
    const notPng = await uploader.uploadOnce(
      {
        groupKey: 'b',
        channel: 'C0ALERTS',
        threadTs,
        chart: async () => ({ png: Buffer.from('not a png, not at all'), title: 't', filename: 'c.png' }),
      },
      signal,
    );
    expect(notPng).toBe('failed');
    expect(slack.uploads).toHaveLength(0);
  });
});

describe('publish state', () => {
  it('keeps the chart marker in the group hash beside the message (Redis)', async () => {
    const prefix = uniquePrefix('chart-state');
    const redis = new Redis(REDIS_URL);
    try {
      const state = new RedisPublishState(redis, prefix);
      expect((await state.load('g', 'slack-chart:thread', [])).done).toBe(false);
      await state.save('g', {}, 'slack-chart:thread');
      expect((await state.load('g', 'slack-chart:thread', [])).done).toBe(true);
      expect((await state.load('other', 'slack-chart:thread', [])).done).toBe(false);
    } finally {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });
});
