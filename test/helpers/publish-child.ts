/**
 * A Slack publisher in a process of its own, for tests that kill it (SIGKILL) at a chosen
 * moment: test/publish-exactly-once.test.ts. Started as
 *   node --import tsx test/helpers/publish-child.ts '<json options>'
 * mode `hold-lock`: takes the group's Slack lock through the publish state and waits forever;
 * mode `publish`: publishes the fixture's first notification to the fake Slack.
 * Prints `locked` or `published <ts>` on stdout. Exits by itself after `lifetimeMs`.
 */
import { Redis } from 'ioredis';
import { DEFAULT_SERVICE_LABELS } from '../../src/analyze/service';
import { SlackBotPublisher } from '../../src/publish/slack';
import { RedisPublishState } from '../../src/publish/state';
import { eventFor, loadPayload, NOW } from '../publish-records';

interface ChildOptions {
  mode: 'hold-lock' | 'publish';
  redisUrl: string;
  prefix: string;
  fixture: string;
  slackUrl?: string;
  token?: string;
  channel?: string;
  lifetimeMs?: number;
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
  // Never outlive the test that started it.
  setTimeout(() => process.exit(3), opts.lifetimeMs ?? 120_000).unref();
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 3 });
  const state = new RedisPublishState(redis, opts.prefix);
  const event = eventFor(loadPayload(opts.fixture));
  const signal = new AbortController().signal;
  if (opts.mode === 'hold-lock') {
    await state.withLock(event.payload.groupKey, 'slack', signal, async () => {
      process.stdout.write('locked\n');
      await new Promise(() => setInterval(() => undefined, 1000));
    });
    return;
  }
  const bot = new SlackBotPublisher(state, {
    token: opts.token ?? '',
    channel: opts.channel ?? 'C0ALERTS',
    apiUrl: `${opts.slackUrl}/api`,
    minSeverity: 'info',
    serviceLabels: DEFAULT_SERVICE_LABELS,
    now: () => NOW,
    timeoutMs: 5000,
  });
  const result = await bot.publish(event, signal);
  process.stdout.write(`published ${result.slackTs ?? ''}\n`);
  redis.disconnect();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
