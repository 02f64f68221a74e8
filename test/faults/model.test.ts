import { stopAll } from '../e2e/process';
import { goal, notifications, Scenario, FAULT_GROUPS, FAULT_SCALE } from './harness';

/**
 * Issue 10's table, the model rows, with real processes: a model slower than usual, one
 * slower than LLM_TIMEOUT_MS, and one that never answers (with the default 60 s timeout).
 * The first Slack message of every group must not wait for it: each group's top-level post
 * is in the fake Slack before the model answered anything for that group (the order of the
 * fakes' logs; no durations are compared). 40 alerts in 20 groups per run.
 */

const GROUPS = FAULT_GROUPS;
const PER_GROUP = 2;
const ALERTS = GROUPS * PER_GROUP;
jest.setTimeout(240_000 * FAULT_SCALE);

/** The group a chat request was about (the prompt names its alerts). */
function groupOf(x: { body: string }): string | undefined {
  return /(\w+Group\d+Alert)/.exec(x.body)?.[1];
}

/** Model requests per group. */
function callsPerGroup(s: Scenario): Map<string, number> {
  const n = new Map<string, number>();
  // As the model saw them arrive (the proxy records a request only once it was answered).
  for (const x of s.ollama.chats()) {
    const g = groupOf(x);
    if (g) n.set(g, (n.get(g) ?? 0) + 1);
  }
  return n;
}

/** Groups whose first top-level post came after the model had answered for that group. */
function postedAfterTheModel(s: Scenario): string[] {
  const answered = new Map<string, number>();
  for (const x of s.modelProxy.exchanges) {
    const g = groupOf(x);
    if (g && x.status === 200 && !answered.has(g)) answered.set(g, x.answeredAt);
  }
  const late: string[] = [];
  for (const [g, at] of answered) {
    const post = s.slack.topLevel().find((m) => `${m.text ?? ''}${JSON.stringify(m.blocks ?? [])}`.includes(g));
    if (!post || post.at >= at) late.push(g);
  }
  return late;
}

describe('faults: a slow or hanging model', () => {
  const scenarios: Scenario[] = [];
  // Each test's processes and servers stop with it: the next test has the machine to itself.
  afterEach(async () => {
    await Promise.all(scenarios.splice(0).map((s) => s.stop()));
  });
  afterAll(stopAll);
  const scenario = async (s: Scenario) => (scenarios.push(s), s.start());

  it('a slow model (1 s, within LLM_TIMEOUT_MS): every first post before its answer, the narration as an update, one call per group', async () => {
    const s = await scenario(new Scenario({ tag: 'modelSlow', proxyModel: true }));
    s.ollama.fallback = { kind: 'good', delayMs: 1000 };
    await s.product('all', { LLM_TIMEOUT_MS: '10000' });
    expect((await s.send(notifications({ tag: 'modelSlow', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    expect(await s.settle({ records: ALERTS, narrated: ALERTS })).toEqual(goal(GROUPS, PER_GROUP));
    expect(s.modelProxy.exchanges.filter((x) => x.status === 200)).toHaveLength(GROUPS);
    expect(postedAfterTheModel(s)).toEqual([]);
  });

  it('a model slower than LLM_TIMEOUT_MS: every group posted, none waited for it, exactly one call per group, none planned again', async () => {
    const s = await scenario(new Scenario({ tag: 'modelLate', proxyModel: true }));
    s.ollama.fallback = { kind: 'good', delayMs: 4000 };
    // The breaker stays shut: this row is about calls per group, not about skipping a failing model.
    await s.product('all', { LLM_TIMEOUT_MS: '1000', LLM_BREAKER_THRESHOLD: '1000' });
    expect((await s.send(notifications({ tag: 'modelLate', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    // Idle: every narration has had its one call, and none is waiting to ask again.
    const c = await s.settle({ records: ALERTS, narrated: 0 }, 150_000, 3000);
    expect(await s.pendingJobs()).toBe(0);
    expect(c).toEqual({ ...goal(GROUPS, PER_GROUP), narrated: 0 });
    expect([...callsPerGroup(s).values()]).toEqual(Array(GROUPS).fill(1));
    expect(postedAfterTheModel(s)).toEqual([]);
  });

  it('a model that never answers, default LLM_TIMEOUT_MS: every group posted while it hangs', async () => {
    const s = await scenario(new Scenario({ tag: 'modelHangs', proxyModel: true }));
    s.ollama.fallback = { kind: 'good', delayMs: 600_000 };
    await s.product('all');
    expect((await s.send(notifications({ tag: 'modelHangs', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    const c = await s.settle({ records: ALERTS, narrated: 0, idle: false }, undefined, 4000);
    // Not one answer came, and every group is out: no first post waited for the model.
    expect(s.modelProxy.exchanges).toHaveLength(0);
    expect(c.modelCalls).toBeGreaterThan(0);
    expect(c.modelCalls).toBeLessThanOrEqual(GROUPS);
    expect({ ...c, modelCalls: GROUPS }).toEqual({ ...goal(GROUPS, PER_GROUP), narrated: 0 });
  });

  it('a model that never answers, its breaker opening on the timeouts: every group still gets exactly one call, spaced by the breaker', async () => {
    const s = await scenario(new Scenario({ tag: 'modelBreaker', proxyModel: true }));
    s.ollama.fallback = { kind: 'good', delayMs: 600_000 };
    // The default threshold (5 failures), a short timeout and cool-down so the row takes seconds.
    await s.product('all', { LLM_TIMEOUT_MS: '500', LLM_BREAKER_COOLDOWN_MS: '2000' });
    expect((await s.send(notifications({ tag: 'modelBreaker', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    const c = await s.settle({ records: ALERTS, narrated: 0 }, 150_000 * FAULT_SCALE, 4000);
    // The breaker did open, and the narrations it held back waited instead of giving up.
    expect(s.logLines('"reason":"circuit_open"').length).toBeGreaterThan(0);
    expect(s.logLines('gave up waiting for the model')).toEqual([]);
    expect(await s.pendingJobs()).toBe(0);
    expect(c).toEqual({ ...goal(GROUPS, PER_GROUP), narrated: 0 });
    expect([...callsPerGroup(s).values()]).toEqual(Array(GROUPS).fill(1));
  });

  it('the resolve arrives while the narration is with the model (finding 2): the late narration reopens nothing', async () => {
    const s = await scenario(new Scenario({ tag: 'lateNarration', proxyModel: true }));
    s.ollama.fallback = { kind: 'good', delayMs: 1500 };
    await s.product('all', { LLM_TIMEOUT_MS: '20000' });
    const startsAt = new Date(Date.now() - 120_000).toISOString();
    const batch = (status: 'firing' | 'resolved') =>
      notifications({ tag: 'lateNarration', groups: GROUPS, alertsPerGroup: PER_GROUP, status, startsAt });
    expect((await s.send(batch('firing'))).undelivered).toBe(0);
    while (s.slack.topLevel().length < GROUPS) await new Promise((r) => setTimeout(r, 50));
    // Most narrations are still queued or with the model when the resolves come.
    expect(s.modelProxy.exchanges.length).toBeLessThan(GROUPS);
    expect((await s.send(batch('resolved'))).undelivered).toBe(0);
    const c = await s.settle({ records: 2 * ALERTS });
    expect({ ...c, narrated: ALERTS }).toEqual(goal(GROUPS, PER_GROUP, { resolved: true }));
    // Every group's message reads resolved, whatever the narration did after the resolve.
    const headers = s.slack
      .topLevel()
      .map((m) => String((m.blocks?.[0] as { text?: { text?: string } } | undefined)?.text?.text ?? m.text));
    expect(headers.filter((h) => !h.includes('RESOLVED'))).toEqual([]);
    expect([...s.pagerduty.incidents.values()].filter((i) => i.status !== 'resolved')).toHaveLength(0);
  });
});
