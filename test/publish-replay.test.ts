import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FAKE_ROUTING_KEY, FakePagerDuty } from './fakes/pagerduty';
import { FAKE_SLACK_TOKEN, FAKE_WEBHOOK_PATH, FakeSlack } from './fakes/slack';

/** `alert-annotator replay <payload> --publish`: one command to try a Slack/PagerDuty setup. */

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const FIXTURE = join(__dirname, 'fixtures', 'alertmanager', 'am-webhook-01-firing-1-alert-CheckoutLatencyHigh-basic-auth.json');

let slack: FakeSlack;
let pd: FakePagerDuty;
beforeEach(async () => {
  [slack, pd] = await Promise.all([new FakeSlack().start(), new FakePagerDuty().start()]);
});
afterEach(async () => {
  await Promise.all([slack.stop(), pd.stop()]);
});

async function replay(env: Record<string, string>, publish = true): Promise<{ stdout: string; stderr: string }> {
  const args = [
    join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
    join(ROOT, 'src', 'cli.ts'),
    'replay',
    FIXTURE,
    ...(publish ? ['--publish'] : []),
  ];
  return run(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LLM_PROVIDER: 'none', LOG_LEVEL: 'warn', ...env },
    timeout: 60_000,
  });
}

// Each test starts the CLI as child processes through tsx; on a loaded 2-core machine one
// start can take tens of seconds, so the ceiling is generous (it bounds a hang, it times nothing).
jest.setTimeout(120_000);

describe('replay --publish', () => {
  it('posts the payload to the configured Slack channel and PagerDuty, and prints the record with its Slack ts', async () => {
    const { stdout } = await replay({
      SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
      SLACK_CHANNEL: '#alerts',
      SLACK_API_URL: `${slack.url}/api`,
      PAGERDUTY_ROUTING_KEY: FAKE_ROUTING_KEY,
      PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
    });
    expect(slack.topLevel()).toHaveLength(1);
    expect(pd.accepted()).toHaveLength(1);
    const records = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { slackTs?: string });
    expect(records).toHaveLength(1);
    expect(records[0]?.slackTs).toBe(slack.topLevel()[0]!.ts);
  });

  it('posts through an incoming webhook too, and publishes nothing without --publish', async () => {
    const env = { SLACK_WEBHOOK_URL: `${slack.url}${FAKE_WEBHOOK_PATH}` };
    await replay(env, false);
    expect(slack.requests).toHaveLength(0);
    await replay(env);
    expect(slack.webhookMessages).toHaveLength(1);
  });
});
