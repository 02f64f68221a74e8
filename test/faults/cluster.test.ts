import { loadConfig } from '../../src/config';
import { stopAll } from '../e2e/process';
import { goal, notifications, Scenario, startCluster, startProduct, type ClusterTopology, FAULT_GROUPS, FAULT_SCALE } from './harness';

/**
 * The service on a real Redis Cluster: three masters started here (`redis-server
 * --cluster-enabled yes`, joined with `redis-cli --cluster create`), REDIS_CLUSTER_NODES and a
 * hash-tagged QUEUE_PREFIX. A stream of 40 alerts in 20 groups through receiver + worker
 * processes: every record once, one post and one model call per group. Without a hash tag
 * the service refuses to start, saying why.
 */

const GROUPS = FAULT_GROUPS;
const PER_GROUP = 2;
jest.setTimeout(240_000 * FAULT_SCALE);

describe('faults: Redis Cluster', () => {
  let cluster: ClusterTopology | undefined;
  const scenarios: Scenario[] = [];
  // Each test's processes and servers stop with it: the next test has the machine to itself.
  afterEach(async () => {
    await Promise.all(scenarios.splice(0).map((s) => s.stop()));
  });
  afterAll(stopAll);

  it('refuses a QUEUE_PREFIX without a hash tag, naming the rule', async () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: 'alert-annotator', WEBHOOK_AUTH: 'none' })).toThrow(
      /QUEUE_PREFIX: with REDIS_CLUSTER_NODES every key must sit in one hash slot, so QUEUE_PREFIX needs a hash tag.*\{alert-annotator\}/,
    );
    // An empty tag hashes the whole key: no better.
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: 'a{}b', WEBHOOK_AUTH: 'none' })).toThrow(/hash tag/);
    expect(
      loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001', QUEUE_PREFIX: '{alert-annotator}' }).REDIS_CLUSTER_NODES,
    ).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ]);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1', QUEUE_PREFIX: '{a}' })).toThrow(/REDIS_CLUSTER_NODES: must be host:port/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINELS: '127.0.0.1:26379', QUEUE_PREFIX: '{a}' })).toThrow(
      /not both/,
    );
    // The process says so and exits, before touching Redis.
    await expect(
      startProduct({ REDIS_CLUSTER_NODES: '127.0.0.1:1', QUEUE_PREFIX: 'alert-annotator', WEBHOOK_AUTH: 'none', LLM_PROVIDER: 'none' }),
    ).rejects.toThrow(/needs a hash tag/);
  });

  it('runs a stream on three masters with a hash-tagged prefix: nothing lost, nothing twice', async () => {
    const s = new Scenario({
      tag: 'cluster',
      prefix: '{faults-cluster}',
      topology: async () => (cluster = await startCluster(3)),
    });
    scenarios.push(s);
    await s.start();
    await s.product('receiver');
    await s.product('worker');
    await s.product('worker');
    const sent = await s.send(notifications({ tag: 'cluster', groups: GROUPS, alertsPerGroup: PER_GROUP }));
    expect(sent.undelivered).toBe(0);
    expect(await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP })).toEqual(goal(GROUPS, PER_GROUP));
    // Every key of the service sits on the one master that owns the tag's slot.
    const perNode = await Promise.all(
      cluster!.nodes.map(async (n) => (await n.client().keys('*')).filter((k) => k.startsWith('{faults-cluster}')).length),
    );
    expect(perNode.filter((n) => n > 0)).toHaveLength(1);
    expect(Math.max(...perNode)).toBeGreaterThan(10);
  });
});
