import { stopAll } from '../e2e/process';
import { until } from '../helpers/until';
import { goal, notifications, Scenario, FAULT_GROUPS, FAULT_SCALE } from './harness';

/**
 * Issue 10's table, the outage rows, with real processes: Loki answering 503 for a while,
 * Loki down past every retry (dead letters, then Alertmanager's next delivery), Slack
 * answering 500 and then 429. 40 alerts in 20 groups per run, short backoffs; the goal of
 * every row: 40 records, 0 duplicates, 20 posts, 20 model calls.
 */

const GROUPS = FAULT_GROUPS;
const PER_GROUP = 2;
const ALERTS = GROUPS * PER_GROUP;
jest.setTimeout(240_000 * FAULT_SCALE);

const LOKI_DOWN = { status: 503, body: 'Service Unavailable\n' };

describe('faults: outages of Loki and Slack', () => {
  const scenarios: Scenario[] = [];
  // Each test's processes and servers stop with it: the next test has the machine to itself.
  afterEach(async () => {
    await Promise.all(scenarios.splice(0).map((s) => s.stop()));
  });
  afterAll(stopAll);
  const scenario = async (s: Scenario) => (scenarios.push(s), s.start());

  it('Loki down for a while (503 to pushes and queries): every record once it is back, one model call per group', async () => {
    const s = await scenario(new Scenario({ tag: 'lokiDown' }));
    await s.product('all');
    s.loki.failNext(LOKI_DOWN, Infinity);
    expect((await s.send(notifications({ tag: 'lokiDown', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    // Loki refuses for a while: jobs are tried and retried meanwhile.
    await until('Loki to refuse many requests', () => s.loki.requests.length >= 3 * GROUPS, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    s.loki.recover();
    expect(await s.settle({ records: ALERTS, narrated: ALERTS })).toEqual(goal(GROUPS, PER_GROUP));
  });

  it('Loki down past every retry: the jobs become dead letters, and the next delivery goes through', async () => {
    const s = await scenario(new Scenario({ tag: 'lokiGone' }));
    await s.product('all', { JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '100', JOB_BACKOFF_MAX_MS: '200' });
    s.loki.failNext(LOKI_DOWN, Infinity);
    const batch = notifications({ tag: 'lokiGone', groups: GROUPS, alertsPerGroup: PER_GROUP });
    expect((await s.send(batch)).undelivered).toBe(0);
    const deadLetters = `${s.prefix}:dead-letters`;
    await until('every job to fail for good', async () => (await s.admin.hlen(deadLetters)) === GROUPS, 120_000);
    expect(s.counts().records).toBe(0);
    s.loki.recover();
    // Alertmanager sends the same notifications again (group_interval, repeat_interval).
    expect((await s.send(batch)).undelivered).toBe(0);
    expect(await s.settle({ records: ALERTS, narrated: ALERTS })).toEqual(goal(GROUPS, PER_GROUP));
  });

  it('Slack answering 500, then 429 with Retry-After: one post per group once it is back, one model call per group', async () => {
    const s = await scenario(new Scenario({ tag: 'slackDown' }));
    await s.product('all');
    s.slack.failNext({ status: 500, body: '<html><body>Internal Server Error</body></html>' }, Infinity);
    expect((await s.send(notifications({ tag: 'slackDown', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    await until('Slack to refuse some posts', () => s.slack.requests.length >= 10, 60_000);
    await new Promise((r) => setTimeout(r, 4000));
    s.slack.failNext({ status: 429, headers: { 'Retry-After': '1' }, body: { ok: false, error: 'ratelimited' } }, Infinity);
    await new Promise((r) => setTimeout(r, 4000));
    s.slack.recover();
    expect(await s.settle({ records: ALERTS, narrated: ALERTS })).toEqual(goal(GROUPS, PER_GROUP));
  });
});
