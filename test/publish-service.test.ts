import request from 'supertest';
import { FakeLoki } from './fakes/loki';
import { FAKE_ROUTING_KEY, FakePagerDuty } from './fakes/pagerduty';
import { FAKE_SLACK_TOKEN, FakeSlack } from './fakes/slack';
import { deleteKeys, fixture, startTestService, uniquePrefix, type TestService } from './helpers/service';
import { until } from './helpers/until';

/** The service end to end (receiver + worker, real Redis) publishing to fake Slack and PagerDuty. */

let slack: FakeSlack;
let pd: FakePagerDuty;
let loki: FakeLoki;

beforeEach(async () => {
  [slack, pd, loki] = await Promise.all([new FakeSlack().start(), new FakePagerDuty().start(), new FakeLoki().start()]);
});
afterEach(async () => {
  await Promise.all([slack.stop(), pd.stop(), loki.stop()]);
});

function env(prefix: string): Record<string, string> {
  return {
    QUEUE_PREFIX: prefix,
    LOKI_URL: loki.url,
    SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
    SLACK_CHANNEL: '#alerts',
    SLACK_API_URL: `${slack.url}/api`,
    PAGERDUTY_ROUTING_KEY: FAKE_ROUTING_KEY,
    PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
    GRAFANA_URL: 'https://grafana.example.com',
  };
}

async function post(svc: TestService, prefix: string): Promise<void> {
  const res = await request(svc.url)
    .post('/webhook/alertmanager')
    .send(fixture(prefix).body as object);
  expect(res.status).toBe(200);
}

describe('publishing through the worker', () => {
  it('posts exactly one Slack message when the job is retried after its Slack post went out', async () => {
    // PagerDuty fails twice, so the job fails twice after Slack already has the message.
    pd.failNext({ status: 503, body: '' }, 2);
    const svc = await startTestService(env(uniquePrefix('publish-retry')));
    try {
      await post(svc, 'am-webhook-01');
      await until('PagerDuty to accept the trigger', () => pd.accepted().length === 1, 20_000);
      await svc.waitForJobs();
      expect(pd.requests).toHaveLength(3);
      expect(slack.topLevel()).toHaveLength(1);
      expect(slack.requestsTo('/api/chat.postMessage')).toHaveLength(1);
      // The durable record, written once the notifiers succeeded, carries the message's ts.
      await until('the Loki record', () => loki.records().length === 1);
      expect(loki.records()[0]).toMatchObject({ slackTs: slack.topLevel()[0]!.ts });
    } finally {
      await svc.stop();
    }
  });

  it('posts exactly one Slack message when the worker that posted goes away before the job completes and another worker retries it', async () => {
    const prefix = uniquePrefix('publish-kill');
    // PagerDuty is down, so the first worker's job fails after Slack has the message.
    pd.failNext({ status: 503, body: '' }, Infinity);
    const first = await startTestService(env(prefix));
    await post(first, 'am-webhook-01');
    await until('the Slack post and a failed PagerDuty call', () => slack.topLevel().length === 1 && pd.requests.length >= 1);
    // The first worker goes away with the job unfinished (its Redis keys stay).
    await first.service.shutdown();
    await Promise.all([first.queue.close(), first.narrations.close()]);
    first.redis.disconnect();

    pd.recover();
    const second = await startTestService(env(prefix));
    try {
      await until('PagerDuty to accept the trigger', () => pd.accepted().length === 1, 20_000);
      await second.waitForJobs();
      expect(slack.topLevel()).toHaveLength(1);
      expect(slack.argsOf('chat.postMessage').filter((a) => !a.thread_ts)).toHaveLength(1);
      // The durable record carries the message's ts.
      await until('the Loki record', () => loki.records().length === 1);
      expect(loki.records()[0]).toMatchObject({ slackTs: slack.topLevel()[0]!.ts });
    } finally {
      await second.stop();
    }
  });

  it('after a Redis flush, the resolve updates the message the Loki record names instead of posting a new one (finding 5)', async () => {
    const prefix = uniquePrefix('publish-flush');
    const svc = await startTestService(env(prefix));
    try {
      await post(svc, 'am-webhook-01');
      await svc.waitForJobs();
      await until('the Loki record', () => loki.records().length === 1);
      const [root] = slack.topLevel();
      // Redis forgets everything: the publish state, the dedup markers, the queue.
      await deleteKeys(svc.redis, prefix);

      await post(svc, 'am-webhook-06');
      await svc.waitForJobs();
      await until('the resolved record', () => loki.records().length === 2);
      expect(slack.topLevel()).toEqual([root]);
      expect(root!.updates).toBe(1);
      expect(JSON.stringify(root!.blocks?.[0])).toContain('RESOLVED · CheckoutLatencyHigh');
      expect(loki.records().map((r) => [r.slackTs, r.slackChannel])).toEqual([
        [root!.ts, 'C0ALERTS'],
        [root!.ts, 'C0ALERTS'],
      ]);
    } finally {
      await svc.stop();
    }
  });

  it('updates the original Slack message and resolves the PagerDuty alert when the group resolves', async () => {
    const svc = await startTestService(env(uniquePrefix('publish-resolve')));
    try {
      await post(svc, 'am-webhook-01');
      await svc.waitForJobs();
      expect(slack.topLevel()).toHaveLength(1);
      const [root] = slack.topLevel();

      await post(svc, 'am-webhook-06');
      await svc.waitForJobs();
      expect(slack.topLevel()).toEqual([root]);
      expect(root!.updates).toBe(1);
      expect(JSON.stringify(root!.blocks?.[0])).toContain('RESOLVED · CheckoutLatencyHigh');
      expect(slack.replies(root!.ts).map((r) => r.text)).toEqual([expect.stringMatching(/^:white_check_mark: Resolved after /)]);

      const groupKey = (fixture('am-webhook-01').body as { groupKey: string }).groupKey;
      expect(pd.incidents.get(groupKey)?.events.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
      // Both records in Loki point at the same Slack message.
      await until('both Loki records', () => loki.records().length === 2);
      expect(loki.records().map((r) => [r.status, r.slackTs])).toEqual([
        ['firing', root!.ts],
        ['resolved', root!.ts],
      ]);
    } finally {
      await svc.stop();
    }
  });
});
