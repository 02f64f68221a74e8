import { stopAll } from '../e2e/process';
import { goal, notifications, Scenario, FAULT_GROUPS, FAULT_SCALE, positiveIntEnv } from './harness';

/**
 * Issue 10's storm row with real processes: an HA pair of Alertmanagers (two externalURLs)
 * each sending every group's notification again and again, then the resolve, again from
 * both. 20 groups of 2 alerts, 10 copies from each instance: 400 firing notifications and
 * 40 resolved ones through one receiver and two workers. Every alert gets one firing and one
 * resolved record, each group one Slack post, one model call and one PagerDuty incident,
 * resolved once and never triggered again.
 */

const GROUPS = FAULT_GROUPS;
const PER_GROUP = 2;
/** Copies of each notification from each instance; FAULT_STORM_COPIES=100 with FAULT_GROUPS=100 is the 20,000. */
const COPIES = positiveIntEnv('FAULT_STORM_COPIES', 10);
jest.setTimeout(240_000 * FAULT_SCALE);

describe('faults: a notification storm from an HA pair', () => {
  const scenarios: Scenario[] = [];
  // Each test's processes and servers stop with it: the next test has the machine to itself.
  afterEach(async () => {
    await Promise.all(scenarios.splice(0).map((s) => s.stop()));
  });
  afterAll(stopAll);

  it('many copies from both instances: one of everything per group', async () => {
    const s = new Scenario({ tag: 'storm' });
    scenarios.push(s);
    await s.start();
    await s.product('receiver');
    await s.product('worker');
    await s.product('worker');
    const startsAt = new Date(Date.now() - 120_000).toISOString();
    const from = (status: 'firing' | 'resolved', instance: number) =>
      notifications({
        tag: 'storm',
        groups: GROUPS,
        alertsPerGroup: PER_GROUP,
        status,
        startsAt,
        externalURL: `http://am-${instance}:9093`,
      });
    const firing = Array.from({ length: COPIES }, () => [...from('firing', 0), ...from('firing', 1)]).flat();
    const sent = await s.send(firing, { concurrency: 8 });
    expect(sent.undelivered).toBe(0);
    expect(await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP })).toEqual(goal(GROUPS, PER_GROUP));
    const resolved = [...from('resolved', 0), ...from('resolved', 1)];
    expect((await s.send([...resolved, ...resolved], { concurrency: 8 })).undelivered).toBe(0);
    expect(await s.settle({ records: 2 * GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP })).toEqual(
      goal(GROUPS, PER_GROUP, { resolved: true }),
    );
    const incidents = [...s.pagerduty.incidents.values()];
    expect(incidents.filter((i) => i.status === 'resolved')).toHaveLength(GROUPS);
    expect(incidents.map((i) => i.events.filter((e) => e.event_action === 'resolve').length)).toEqual(Array(GROUPS).fill(1));
  });
});
