import { stopAll } from '../e2e/process';
import { goal, notifications, Scenario, FAULT_GROUPS, FAULT_SCALE } from './harness';

/**
 * Issue 10's table, the Redis rows, with real processes: a private redis-server that is
 * SIGKILLed (AOF) or flushed, and `alert-annotator serve` processes stopped with SIGTERM.
 * 40 alerts in 20 groups per run; the goal of every row: every alert has its record, no
 * record twice, one top-level Slack post and one model call per group.
 */

const GROUPS = FAULT_GROUPS;
const PER_GROUP = 2;
jest.setTimeout(240_000 * FAULT_SCALE);

describe('faults: Redis', () => {
  const scenarios: Scenario[] = [];
  // Each test's processes and servers stop with it: the next test has the machine to itself.
  afterEach(async () => {
    await Promise.all(scenarios.splice(0).map((s) => s.stop()));
  });
  afterAll(stopAll);
  const scenario = async (s: Scenario) => (scenarios.push(s), s.start());

  it('Redis FLUSHALL after everything went out, every notification delivered again, then the resolve (finding 5): nothing twice', async () => {
    const s = await scenario(new Scenario({ tag: 'flushall' }));
    await s.product('all');
    const startsAt = new Date(Date.now() - 120_000).toISOString();
    const batch = (status: 'firing' | 'resolved') =>
      notifications({ tag: 'flushall', groups: GROUPS, alertsPerGroup: PER_GROUP, status, startsAt });
    await s.send(batch('firing'));
    await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP });
    await s.admin.flushall();
    // Alertmanager repeats every notification (repeat_interval): the queue no longer knows them.
    const again = await s.send(batch('firing'));
    expect(again.undelivered).toBe(0);
    expect(await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP })).toEqual(goal(GROUPS, PER_GROUP));
    // The resolve finds each group's message again from the Loki record's slackTs, and updates it.
    expect((await s.send(batch('resolved'))).undelivered).toBe(0);
    expect(await s.settle({ records: 2 * GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP })).toEqual(
      goal(GROUPS, PER_GROUP, { resolved: true }),
    );
    const headers = s.slack
      .topLevel()
      .map((m) => String((m.blocks?.[0] as { text?: { text?: string } } | undefined)?.text?.text ?? m.text));
    expect(headers.filter((h) => !h.includes('RESOLVED'))).toEqual([]);
  });

  it('SIGTERM mid-stream, then a new process: nothing lost, nothing twice', async () => {
    const s = await scenario(new Scenario({ tag: 'sigterm' }));
    const first = await s.product('all');
    const batch = notifications({ tag: 'sigterm', groups: GROUPS, alertsPerGroup: PER_GROUP });
    const sending = s.send(batch);
    // Stop it once some of the work is out and some is not.
    while (s.slack.topLevel().length < 6) await new Promise((r) => setTimeout(r, 50));
    expect(await first.terminate()).toBe(0);
    await s.product('all');
    expect((await sending).undelivered).toBe(0);
    expect(await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP })).toEqual(goal(GROUPS, PER_GROUP));
  });
});
