import { stopAll } from '../e2e/process';
import { until } from '../helpers/until';
import { goal, isTopLevelPost, notifications, Scenario, SETTLE_MS, type Counts, FAULT_GROUPS, FAULT_SCALE } from './harness';

/**
 * Issue 10's two "101" rows, made deterministic: the process that holds the group's Slack
 * bookkeeping dies exactly between Slack's answer to the first post and the write of its ts
 * (a FaultProxy in front of the fake Slack acts there). 40 alerts in 20 groups.
 */

const GROUPS = FAULT_GROUPS;
const PER_GROUP = 2;
jest.setTimeout(300_000 * FAULT_SCALE);

describe('faults: one top-level Slack post per group when a process dies after the post', () => {
  const scenarios: Scenario[] = [];
  // Each test's processes and servers stop with it: the next test has the machine to itself.
  afterEach(async () => {
    await Promise.all(scenarios.splice(0).map((s) => s.stop()));
  });
  afterAll(stopAll);
  const scenario = async (s: Scenario) => (scenarios.push(s), s.start());

  /**
   * The goal, exactly, but for model calls: a narration whose worker died (or froze) between
   * sending its request and keeping the answer is asked again by the worker that takes it
   * over (docs/operations.md, Known gaps). At most LLM_MAX_CONCURRENCY (2) calls are in flight
   * at once, so at most 2 more (21 of 20 seen once in four runs of the frozen row).
   */
  const expectWorkerLoss = (c: Counts) => {
    expect({ ...c, modelCalls: GROUPS }).toEqual(goal(GROUPS, PER_GROUP));
    expect(c.modelCalls).toBeGreaterThanOrEqual(GROUPS);
    expect(c.modelCalls).toBeLessThanOrEqual(GROUPS + 2);
  };

  /** A receiver and two workers: A reaches Slack through the proxy, B directly, so the proxy knows whose post it sees. */
  const twoWorkers = async (tag: string) => {
    const s = await scenario(new Scenario({ tag, proxySlack: true }));
    await s.product('receiver');
    const a = await s.product('worker');
    await s.product('worker', { SLACK_API_URL: `${s.slack.url}/api` });
    return { s, a };
  };

  it('Redis SIGKILLed right after Slack took a post, back 3 s later (AOF): nothing lost, nothing twice', async () => {
    const s = await scenario(new Scenario({ tag: 'redisKill', redis: { aof: true }, proxySlack: true }));
    await s.product('all');
    let killed = false;
    // Between Slack's answer and the worker writing down the ts: the worst moment to lose Redis.
    s.slackProxy.onAnswer = async (x) => {
      if (killed || !isTopLevelPost(x) || s.slack.topLevel().length < 5) return;
      killed = true;
      await s.redis.kill();
      setTimeout(() => void s.redis.restart(), 3000).unref();
    };
    const sent = await s.send(notifications({ tag: 'redisKill', groups: GROUPS, alertsPerGroup: PER_GROUP }));
    expect(sent.undelivered).toBe(0);
    await until('Redis to be killed and back', async () => killed && (await s.pendingJobs()) !== undefined, 120_000);
    expect(await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP })).toEqual(goal(GROUPS, PER_GROUP));
    // No retry found its own alerts claimed by the run Redis failed (a claim that run could not give back).
    expect(s.logLines('being annotated by another worker')).toEqual([]);
  });

  it('one of two workers SIGKILLed right after Slack took its post: the other finishes, nothing lost, nothing twice', async () => {
    const { s, a } = await twoWorkers('workerKill');
    let killed = false;
    s.slackProxy.onAnswer = async (x) => {
      if (!isTopLevelPost(x)) return;
      if (killed) return 'drop';
      if (s.slack.topLevel().length < 3) return;
      killed = true;
      await a.kill();
      return 'drop';
    };
    const sent = await s.send(notifications({ tag: 'workerKill', groups: GROUPS, alertsPerGroup: PER_GROUP }));
    expect(sent.undelivered).toBe(0);
    await until('worker A to be killed', () => killed, 120_000);
    const c = await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP });
    // Every alert narrated too: the narration job is queued (on hold) before the first note
    // goes out, so a retry that finds part of the group in Loki still narrates all of it.
    expectWorkerLoss(c);
  });

  it('a worker frozen (SIGSTOP) right after Slack took its post, its jobs taken over, then thawed (finding 4): nothing twice', async () => {
    const { s, a } = await twoWorkers('workerStop');
    let frozen = false;
    s.slackProxy.onAnswer = (x) => {
      if (frozen || !isTopLevelPost(x) || s.slack.topLevel().length < 3) return;
      frozen = true;
      a.pause();
    };
    expect((await s.send(notifications({ tag: 'workerStop', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    let taken;
    try {
      await until('worker A to be frozen', () => frozen, 120_000);
      // The other worker takes the frozen one's jobs once their BullMQ locks and dedup claims lapse.
      taken = await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP, idle: false }, SETTLE_MS, 3000);
    } finally {
      // Thawed, it reads the answers that waited in its sockets (Redis's "the lock is yours",
      // "not delivered yet") and carries on with jobs that are no longer its own; every
      // request that cannot be taken back waits on its lease, which ran out while it slept.
      a.resume();
    }
    expect(taken.records).toBe(GROUPS * PER_GROUP);
    expectWorkerLoss(await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP }, SETTLE_MS, 5000));
  });

  it('the only worker frozen (SIGSTOP) twice for 40 s, first right after Slack took its post: it finishes its own jobs, nothing twice', async () => {
    const s = await scenario(new Scenario({ tag: 'soleStop', proxySlack: true }));
    await s.product('receiver');
    const w = await s.product('worker');
    let frozen = false;
    s.slackProxy.onAnswer = (x) => {
      if (frozen || !isTopLevelPost(x) || s.slack.topLevel().length < 3) return;
      frozen = true;
      // A paused VM: every lease and job lock of the worker lapses while it sleeps, and no one
      // else takes them. Twice: the second pause, 1 s after the first ends, falls on the jobs it
      // just took back (a job BullMQ finds stalled more than `maxStalledCount` times fails).
      w.pause();
      setTimeout(() => {
        w.resume();
        setTimeout(() => w.pause(), 1000).unref();
        setTimeout(() => w.resume(), 41_000).unref();
      }, 40_000).unref();
    };
    expect((await s.send(notifications({ tag: 'soleStop', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    await until('the worker to be frozen', () => frozen, 120_000);
    expectWorkerLoss(await s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP }, SETTLE_MS, 5000));
    expect(s.logLines('job failed for good')).toEqual([]);
  });

  it('after Redis was SIGKILLed mid-publish, no retry waits out a leftover group lock (finding 9): with JOB_ATTEMPTS=4 nothing is lost', async () => {
    const s = await scenario(new Scenario({ tag: 'leftoverLock', redis: { aof: true }, proxySlack: true }));
    await s.product('all', { JOB_ATTEMPTS: '4' });
    let killed = false;
    s.slackProxy.onAnswer = async (x) => {
      if (killed || !isTopLevelPost(x) || s.slack.topLevel().length < 5) return;
      killed = true;
      await s.redis.kill();
      setTimeout(() => void s.redis.restart(), 3000).unref();
    };
    expect((await s.send(notifications({ tag: 'leftoverLock', groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    await until('Redis to be killed and back', async () => killed && (await s.pendingJobs()) !== undefined, 120_000);
    const c = await s.settle({ records: GROUPS * PER_GROUP });
    const deadLetters = await s.admin.hvals(`${s.prefix}:dead-letters`);
    expect(deadLetters.map((d) => (JSON.parse(d) as { reason: string }).reason)).toEqual([]);
    expect(c.records).toBe(GROUPS * PER_GROUP);
  });

  /**
   * Sends the rows' notifications and SIGKILLs Redis (AOF, back 3 s later) right after Loki
   * stored a record that `kind` matches, once `enough` of them are in.
   */
  const killRedisAfterLokiStored = async (tag: string, kind: 'first' | 'narration') => {
    const s = await scenario(new Scenario({ tag, redis: { aof: true }, proxyLoki: true }));
    await s.product('all');
    let killed = false;
    s.lokiProxy.onAnswer = async (x) => {
      const stored = x.path.startsWith('/loki/api/v1/push') && x.status === 204;
      const template = x.body.includes('\\"narrator\\":\\"template\\"');
      const enough = kind === 'first' ? s.counts().records >= 6 : s.counts().narrated >= 6;
      if (killed || !stored || template !== (kind === 'first') || !enough) return;
      killed = true;
      await s.redis.kill();
      setTimeout(() => void s.redis.restart(), 3000).unref();
    };
    expect((await s.send(notifications({ tag, groups: GROUPS, alertsPerGroup: PER_GROUP }))).undelivered).toBe(0);
    await until('Redis to be killed and back', async () => killed && (await s.pendingJobs()) !== undefined, 120_000);
    return s.settle({ records: GROUPS * PER_GROUP, narrated: GROUPS * PER_GROUP });
  };

  it('Redis SIGKILLed right after Loki stored a narration record, before its delivered marker: the retry does not write it again', async () => {
    expect(await killRedisAfterLokiStored('lostMarker', 'narration')).toEqual(goal(GROUPS, PER_GROUP));
  });

  it("Redis SIGKILLed right after Loki stored a group's first record, before its marker and its narration job: the narration still comes", async () => {
    // The retry finds the group's alerts in Loki and skips them; the job queued on hold before
    // the record went out narrates them (before: 32 of 40 alerts narrated, 16 model calls).
    expect(await killRedisAfterLokiStored('lostFirst', 'first')).toEqual(goal(GROUPS, PER_GROUP));
  });
});
