import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ACTIONS } from '../src/model/interaction';
import { annotationRecordSchema } from '../src/model/record';
import { startAlertmanager, type Peer } from './e2e/peers';
import { FakeLoki } from './fakes/loki';
import { FAKE_SLACK_TOKEN, FakeSlack } from './fakes/slack';
import { fixture, startTestService, type TestService } from './helpers/service';
import { until } from './helpers/until';

/**
 * The card after clicks, through the service: what the interactions wrote on it ("marked right
 * by @x", "silenced by @x until …") and the buttons they took away stay when the publisher
 * renders the card again (the re-analysis, the resolve); and Re-analyze runs on the route the
 * group was published with (its channel, its links, `route` in the records), not the default one.
 */

const SECRET = 'slack-signing-secret-for-tests';
const USER = 'U024BE7LH';

function sign(body: string): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  const sig = `v0=${createHmac('sha256', SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
  return { 'X-Slack-Request-Timestamp': String(ts), 'X-Slack-Signature': sig, 'Content-Type': 'application/x-www-form-urlencoded' };
}

jest.setTimeout(120_000);

describe('the card re-rendered after clicks, on a routed group', () => {
  let am: Peer;
  let slack: FakeSlack;
  let loki: FakeLoki;
  let svc: TestService;
  let dir: string;
  const firing = structuredClone(fixture('am-webhook-01').body) as { groupKey: string; alerts: { status: string }[] };
  firing.groupKey = `${firing.groupKey}/card-rerender`;
  const resolved = structuredClone(fixture('am-webhook-06').body) as { groupKey: string };
  resolved.groupKey = firing.groupKey;

  beforeAll(async () => {
    am = await startAlertmanager(`route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n`);
    [slack, loki] = await Promise.all([new FakeSlack().start(), new FakeLoki().start()]);
    slack.channels.push({ id: 'C0TEAM', name: 'checkout-oncall', member: true });
    dir = mkdtempSync(join(tmpdir(), 'card-rerender-'));
    const routes = join(dir, 'routes.yml');
    writeFileSync(
      routes,
      [
        'routes:',
        '  - name: checkout-team',
        '    matchers: [\'service="checkout"\']',
        '    slack: { channel: C0TEAM }',
        '    links:',
        '      - { title: Checkout dashboard, url: "https://grafana.example/d/checkout" }',
      ].join('\n'),
    );
    svc = await startTestService({
      SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
      SLACK_CHANNEL: 'C0ALERTS',
      SLACK_API_URL: `${slack.url}/api`,
      SLACK_SIGNING_SECRET: SECRET,
      LOKI_URL: loki.url,
      ALERTMANAGER_URL: am.url,
      ROUTES_FILE: routes,
    });
    expect((await request(svc.url).post('/webhook/alertmanager').send(firing)).status).toBe(200);
    await svc.waitForJobs();
  });
  afterAll(async () => {
    await svc?.stop();
    await Promise.all([slack?.stop(), loki?.stop(), am?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const card = () => slack.topLevel()[0]!;
  const text = () => JSON.stringify(card().blocks);
  const buttons = () =>
    ((card().blocks ?? []) as { type: string; elements?: { action_id?: string }[] }[])
      .filter((b) => b.type === 'actions')
      .flatMap((b) => (b.elements ?? []).map((e) => e.action_id));

  /** The card's status lines (the aa-status context block). */
  const statusLines = () =>
    ((card().blocks ?? []) as { block_id?: string; elements?: { text?: string }[] }[])
      .filter((b) => b.block_id === 'aa-status')
      .flatMap((b) => (b.elements ?? []).map((e) => e.text));
  const marked = [
    expect.stringContaining(`marked right by <@${USER}>`),
    expect.stringMatching(new RegExp(`^:no_bell: Silenced by <@${USER}> until <!date\\^`)),
  ];

  async function click(actionId: string): Promise<void> {
    const actions = (card().blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find(
      (b) => b.type === 'actions',
    );
    const value = actions?.elements?.find((e) => e.action_id === actionId)?.value;
    if (!value) throw new Error(`no ${actionId} button on the card`);
    const form = `payload=${encodeURIComponent(
      JSON.stringify({
        type: 'block_actions',
        user: { id: USER },
        trigger_id: `trig-${actionId}`,
        channel: { id: card().channel },
        container: { type: 'message', channel_id: card().channel, message_ts: card().ts },
        message: { ts: card().ts, blocks: card().blocks },
        actions: [{ action_id: actionId, value, type: 'button' }],
      }),
    )}`;
    expect((await request(svc.url).post('/slack/interactions').set(sign(form)).send(form)).status).toBe(200);
  }

  it('posts the group to its route’s channel', () => {
    expect(slack.topLevel().map((m) => m.channel)).toEqual(['C0TEAM']);
    expect(text()).toContain('Checkout dashboard');
  });

  it('keeps "marked right by" and "Silenced by" through a re-analysis, on the route it was published with', async () => {
    await click(ACTIONS.right);
    await until('marked right', () => text().includes(`marked right by <@${USER}>`));
    await click(ACTIONS.silence);
    await until('silenced', () => text().includes(`Silenced by <@${USER}>`));
    const before = card().updates;
    const records = loki.records().length;
    await click(ACTIONS.reanalyze);
    await until('the re-analysis', () => slack.ephemerals.some((e) => e.text.includes('Re-analysis done')));
    await svc.waitForJobs();
    expect(card().updates).toBeGreaterThan(before);
    // Rendered anew by the publisher, the card still says what was done, and does not offer it again.
    expect(statusLines()).toEqual(marked);
    expect(buttons()).not.toContain(ACTIONS.right);
    expect(buttons()).not.toContain(ACTIONS.wrong);
    expect(buttons()).not.toContain(ACTIONS.silence);
    expect(buttons()).toContain(ACTIONS.reanalyze);
    // The re-analysis ran on the group's route: its records say so, and its links are on the card.
    const fresh = loki
      .records()
      .slice(records)
      .map((r) => annotationRecordSchema.parse(r));
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.map((r) => r.route)).toEqual(fresh.map(() => 'checkout-team'));
    expect(text()).toContain('Checkout dashboard');
    expect(slack.topLevel()).toHaveLength(1);
  });

  it('keeps them when the group resolves', async () => {
    const before = card().updates;
    expect((await request(svc.url).post('/webhook/alertmanager').send(resolved)).status).toBe(200);
    await svc.waitForJobs();
    await until('the resolved card', () => card().updates > before);
    expect(JSON.stringify(card().blocks)).toContain('RESOLVED');
    expect(statusLines()).toEqual(marked);
    expect(buttons()).not.toContain(ACTIONS.right);
  });
});
