import { stopAll } from '../e2e/process';
import { until } from '../helpers/until';
import { goal, notifications, Scenario, startSentinel, type SentinelTopology, FAULT_GROUPS, FAULT_SCALE } from './harness';

/**
 * The service behind Redis Sentinel: a master, a replica and three sentinels started here;
 * REDIS_SENTINELS and REDIS_SENTINEL_NAME instead of a fixed REDIS_URL. In the middle of a
 * stream of 40 alerts in 20 groups the sentinels fail over (SENTINEL FAILOVER: the replica
 * becomes the master, the old master its replica). The receiver and the workers follow the
 * new master: every record once, one post and one model call per group.
 */

const GROUPS = FAULT_GROUPS;
const PER_GROUP = 2;
jest.setTimeout(240_000 * FAULT_SCALE);

describe('faults: Redis Sentinel', () => {
  let sentinel: SentinelTopology | undefined;
  const scenarios: Scenario[] = [];
  // Each test's processes and servers stop with it: the next test has the machine to itself.
  afterEach(async () => {
    await Promise.all(scenarios.splice(0).map((s) => s.stop()));
  });
  afterAll(stopAll);

  it('fails over in the middle of a stream: nothing lost, nothing twice', async () => {
    const s = new Scenario({ tag: 'sentinel', topology: async () => (sentinel = await startSentinel(3)) });
    scenarios.push(s);
    await s.start();
    await s.product('receiver');
    await s.product('worker');
    await s.product('worker');
    const before = await sentinel!.currentMaster();
    expect(before).toBe(`127.0.0.1:${sentinel!.master.port}`);
    const batch = notifications({ tag: 'sentinel', groups: GROUPS, alertsPerGroup: PER_GROUP });
    expect((await s.send(batch.slice(0, GROUPS / 2))).undelivered).toBe(0);
    await until('the first notes to go out', () => s.slack.topLevel().length >= 4, 60_000);
    // The second half arrives while the sentinels switch masters (a 503 meanwhile is retried, as Alertmanager does).
    const [second] = await Promise.all([s.send(batch.slice(GROUPS / 2)), sentinel!.failover()]);
    expect(second.undelivered).toBe(0);
    expect(await sentinel!.currentMaster()).toBe(`127.0.0.1:${sentinel!.replica.port}`);
    expect(await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP })).toEqual(goal(GROUPS, PER_GROUP));
    // The old master serves as a replica now, and the processes write to the new one.
    const oldMaster = sentinel!.master.client();
    await until(
      'the sentinels to turn the old master into a replica',
      async () => /role:slave/.test(await oldMaster.info('replication')),
      60_000,
    );
    const clients = Number(/connected_clients:(\d+)/.exec(await sentinel!.replica.client().info('clients'))?.[1]);
    expect(clients).toBeGreaterThanOrEqual(6);
  });
});
