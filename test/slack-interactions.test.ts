import { createHmac } from 'node:crypto';
import request from 'supertest';
import { silenceSchema } from '../src/clients/alertmanager';
import { markCard } from '../src/interactions';
import { feedbackRecordSchema, withoutMarkedWrong, type FeedbackRecord } from '../src/model/feedback';
import { ACTIONS, REASON_VIEW } from '../src/model/interaction';
import { verifySlackSignature } from '../src/receive/slack-interactions';
import { startAlertmanager, sampleSum, type Peer } from './e2e/peers';
import { FakeLoki } from './fakes/loki';
import { FAKE_SLACK_TOKEN, FakeSlack, slackArgs } from './fakes/slack';
import { groupMetadata } from '../src/publish/slack';
import { fixture, startTestService, type TestService } from './helpers/service';
import { until } from './helpers/until';

const SECRET = 'slack-signing-secret-for-tests';
const USER = 'U024BE7LH';

function sign(body: string, ts = Math.floor(Date.now() / 1000), secret = SECRET): Record<string, string> {
  const sig = `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
  return { 'X-Slack-Request-Timestamp': String(ts), 'X-Slack-Signature': sig, 'Content-Type': 'application/x-www-form-urlencoded' };
}

describe('the Slack request signature', () => {
  const body = Buffer.from('payload=%7B%7D');
  const now = 1_795_300_000;
  const good = sign(body.toString(), now);
  const headers = { timestamp: good['X-Slack-Request-Timestamp'], signature: good['X-Slack-Signature'] };

  it.each<[string, { timestamp?: string; signature?: string }, number, boolean]>([
    ['a fresh, correctly signed request is accepted', headers, now, true],
    ['one four minutes old is still accepted', headers, now + 240, true],
    ['one without a signature is refused', { timestamp: headers.timestamp }, now, false],
    ['one without a timestamp is refused', { signature: headers.signature }, now, false],
    [
      'one signed with another secret is refused',
      { ...headers, signature: sign(body.toString(), now, 'other-secret')['X-Slack-Signature'] },
      now,
      false,
    ],
    ['one whose signature is cut short is refused', { ...headers, signature: headers.signature!.slice(0, -2) }, now, false],
    ['a replay six minutes later is refused', headers, now + 360, false],
    ['one from six minutes in the future is refused', headers, now - 360, false],
    ['a timestamp that is not a number is refused', { ...headers, timestamp: `${now}x` }, now, false],
  ])('%s', (_name, h, at, ok) => {
    expect(verifySlackSignature(SECRET, h, body, at)).toBe(ok);
  });

  it('covers the body: one changed byte is refused', () => {
    expect(verifySlackSignature(SECRET, headers, Buffer.from('payload=%7B%7C'), now)).toBe(false);
  });
});

describe('feedback marked wrong, for the history of an alert', () => {
  const rating = (user: string, verdict: 'right' | 'wrong', at: string, fingerprint = 'a1'): FeedbackRecord => ({
    kind: 'feedback',
    fingerprint,
    startsAt: '2026-11-21T02:00:00Z',
    verdict,
    user,
    at,
  });
  const records = [
    { fingerprint: 'a1', startsAt: '2026-11-21T02:00:00.000Z' },
    { fingerprint: 'b2', startsAt: '2026-11-21T02:00:00Z' },
  ];

  it('drops a note marked wrong, keeps one marked right or not rated', () => {
    expect(withoutMarkedWrong(records, [rating(USER, 'wrong', '2026-11-21T03:00:00Z')])).toEqual([records[1]]);
    expect(withoutMarkedWrong(records, [rating(USER, 'right', '2026-11-21T03:00:00Z')])).toEqual(records);
  });

  it("counts each user's latest rating once", () => {
    const changedMind = [rating(USER, 'wrong', '2026-11-21T03:00:00Z'), rating(USER, 'right', '2026-11-21T03:05:00Z')];
    expect(withoutMarkedWrong(records, changedMind)).toEqual(records);
    const outvoted = [
      rating('U1', 'wrong', '2026-11-21T03:00:00Z'),
      rating('U2', 'right', '2026-11-21T03:01:00Z'),
      rating('U3', 'right', '2026-11-21T03:02:00Z'),
    ];
    expect(withoutMarkedWrong(records, outvoted)).toEqual(records);
  });
});

describe('the card after a click', () => {
  it('loses the buttons that are done and gains one status line', () => {
    const blocks = [
      { type: 'section', text: { type: 'mrkdwn', text: 'x' } },
      {
        type: 'actions',
        block_id: 'aa-actions',
        elements: [{ action_id: ACTIONS.right }, { action_id: ACTIONS.wrong }, { action_id: ACTIONS.silence }],
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'links' }] },
    ];
    const once = markCard(blocks, 'marked right', [ACTIONS.right, ACTIONS.wrong]);
    expect(once.map((b) => b.type)).toEqual(['section', 'actions', 'context', 'context']);
    expect((once[1]!.elements as { action_id: string }[]).map((e) => e.action_id)).toEqual([ACTIONS.silence]);
    const twice = markCard(once, 'silenced', [ACTIONS.silence]);
    expect(twice.map((b) => b.type)).toEqual(['section', 'context', 'context']);
    expect(twice[1]).toEqual({
      type: 'context',
      block_id: 'aa-status',
      elements: [
        { type: 'mrkdwn', text: 'marked right' },
        { type: 'mrkdwn', text: 'silenced' },
      ],
    });
  });
});

describe('POST /slack/interactions against the real Alertmanager (Debian prometheus-alertmanager)', () => {
  let am: Peer;
  let slack: FakeSlack;
  let loki: FakeLoki;
  let svc: TestService;
  const body = structuredClone(fixture('am-webhook-01').body) as { groupKey: string; alerts: { labels: Record<string, string> }[] };
  body.groupKey = `${body.groupKey}/interactions`;

  beforeAll(async () => {
    am = await startAlertmanager(`route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n`);
    slack = await new FakeSlack().start();
    loki = await new FakeLoki().start();
    svc = await startTestService({
      SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
      SLACK_CHANNEL: 'C0ALERTS',
      SLACK_API_URL: `${slack.url}/api`,
      SLACK_SIGNING_SECRET: SECRET,
      LOKI_URL: loki.url,
      ALERTMANAGER_URL: am.url,
    });
    expect((await request(svc.url).post('/webhook/alertmanager').send(body)).status).toBe(200);
    await svc.waitForJobs();
    firstBlocks = structuredClone(card().blocks) as typeof firstBlocks;
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    await slack?.stop();
    await loki?.stop();
    await am?.stop();
  });

  const card = () => slack.topLevel()[0]!;
  /** The card as first posted: the buttons a reader of an older copy can still click. */
  let firstBlocks: { type: string; elements?: { action_id: string; value: string }[] }[] = [];
  const button = (actionId: string): { value: string } => {
    const actions = firstBlocks.find((b) => b.type === 'actions');
    const b = actions?.elements?.find((e) => e.action_id === actionId);
    if (!b) throw new Error(`no ${actionId} button on the card`);
    return b;
  };
  const click = (actionId: string, triggerId = `trig-${actionId}-${Date.now()}`) =>
    `payload=${encodeURIComponent(
      JSON.stringify({
        type: 'block_actions',
        user: { id: USER, username: 'oncall' },
        trigger_id: triggerId,
        channel: { id: card().channel },
        container: { type: 'message', channel_id: card().channel, message_ts: card().ts },
        message: { ts: card().ts, blocks: card().blocks },
        actions: [{ action_id: actionId, value: button(actionId).value, type: 'button' }],
      }),
    )}`;
  const post = (form: string, headers: Record<string, string>) => request(svc.url).post('/slack/interactions').set(headers).send(form);
  const silences = async () => {
    const res = await fetch(`${am.url}/api/v2/silences`);
    return silenceSchema
      .array()
      .parse(await res.json())
      .filter((s) => s.status.state === 'active');
  };

  it('posts a card with the feedback, silence and re-analyze buttons', () => {
    expect(card().blocks).toContainEqual(expect.objectContaining({ type: 'actions' }));
    for (const id of Object.values(ACTIONS)) expect(() => button(id)).not.toThrow();
  });

  it('refuses unsigned, badly signed and replayed requests with 401, and changes nothing', async () => {
    const form = click(ACTIONS.silence);
    const queued = await svc.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
    const old = Math.floor(Date.now() / 1000) - 6 * 60;
    const cases: Record<string, string>[] = [
      { 'Content-Type': 'application/x-www-form-urlencoded' },
      { ...sign(form), 'X-Slack-Signature': sign(form, undefined, 'not-the-secret')['X-Slack-Signature']! },
      sign(form, old),
      // The signature of another body.
      { ...sign(form), 'X-Slack-Signature': sign(`${form}&x=1`)['X-Slack-Signature']! },
    ];
    for (const headers of cases) expect((await post(form, headers)).status).toBe(401);
    expect(await silences()).toEqual([]);
    expect(await svc.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed')).toEqual(queued);
  });

  it('Silence 2h creates the silence in Alertmanager with the alert labels, by the clicking user, and says so on the card', async () => {
    const started = Date.now();
    const form = click(ACTIONS.silence);
    const res = await post(form, sign(form));
    expect(res.status).toBe(200);
    const [silence] = await until('the silence', async () => ((await silences()).length ? silences() : undefined));
    const labels = body.alerts[0]!.labels;
    expect(
      silence!.matchers.map(({ name, value, isRegex }) => ({ name, value, isRegex })).sort((a, b) => a.name.localeCompare(b.name)),
    ).toEqual(
      Object.entries(labels)
        .map(([name, value]) => ({ name, value, isRegex: false }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(silence!.createdBy).toBe(`slack:${USER}`);
    const hours = (Date.parse(silence!.endsAt) - started) / 3600_000;
    expect(hours).toBeGreaterThan(1.95);
    expect(hours).toBeLessThan(2.05);
    const text = await until('the card update', () => {
      const t = JSON.stringify(card().blocks);
      return t.includes('Silenced by') ? t : undefined;
    });
    expect(text).toContain(`Silenced by <@${USER}> until <!date^`);
    expect(JSON.stringify(card().blocks)).not.toContain(ACTIONS.silence);
  });

  it('👍 stores a feedback record in Loki, counts it, and marks the card "marked right by"', async () => {
    const form = click(ACTIONS.right);
    expect((await post(form, sign(form))).status).toBe(200);
    const entry = await until('the feedback line', () => loki.entries({ job: 'alert-annotator', kind: 'feedback' })[0]);
    const fb = feedbackRecordSchema.parse(JSON.parse(entry.line));
    expect(fb).toMatchObject({
      kind: 'feedback',
      verdict: 'right',
      user: USER,
      fingerprint: 'ca1e646dc11e4a70',
      noteVerdict: expect.any(String),
    });
    await until('the card update', () => JSON.stringify(card().blocks).includes(`marked right by <@${USER}>`));
    // The update carries the group's metadata as every post does (a later history search finds it).
    const updates = slack.requests.filter((r) => r.path.endsWith('/chat.update')).map((r) => slackArgs(r));
    expect(updates.at(-1)?.metadata).toEqual(groupMetadata(body.groupKey));
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(sampleSum(metrics, 'alert_annotator_feedback_total', { verdict: 'right' })).toBe(1);
  });

  it('👎 opens the reason modal, and the submitted reason is stored with the feedback', async () => {
    loki.clear();
    const form = click(ACTIONS.wrong, 'trig-wrong-1');
    // The card lost its feedback buttons after 👍; a click on an older copy of it still counts.
    expect((await post(form, sign(form))).status).toBe(200);
    const view = await until('the modal', () => slack.views.find((v) => v.callback_id === REASON_VIEW));
    const submit = `payload=${encodeURIComponent(
      JSON.stringify({
        type: 'view_submission',
        user: { id: USER },
        view: {
          callback_id: REASON_VIEW,
          private_metadata: view.private_metadata,
          state: { values: { reason: { reason: { type: 'plain_text_input', value: 'it was the database, not payments' } } } },
        },
      }),
    )}`;
    const res = await post(submit, sign(submit));
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    const lines = await until('two feedback lines', () => {
      const l = loki.entries({ kind: 'feedback' }).map((e) => feedbackRecordSchema.parse(JSON.parse(e.line)));
      return l.length >= 2 ? l : undefined;
    });
    expect(lines.map((l) => [l.verdict, l.reason])).toEqual([
      ['wrong', undefined],
      ['wrong', 'it was the database, not payments'],
    ]);
  });

  it('Re-analyze runs a fresh analysis and updates the card', async () => {
    const updates = card().updates;
    const form = click(ACTIONS.reanalyze);
    expect((await post(form, sign(form))).status).toBe(200);
    await svc.waitForJobs();
    expect(card().updates).toBeGreaterThan(updates);
    expect(slack.ephemerals.map((e) => e.text)).toContainEqual(expect.stringContaining('Re-analysis done'));
  });
});

describe('a silence that cannot be created', () => {
  it('is shown to the user who clicked, never swallowed', async () => {
    const slack = await new FakeSlack().start();
    const svc = await startTestService({
      SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
      SLACK_CHANNEL: 'C0ALERTS',
      SLACK_API_URL: `${slack.url}/api`,
      SLACK_SIGNING_SECRET: SECRET,
      // Nothing listens there.
      ALERTMANAGER_URL: 'http://127.0.0.1:9',
      JOB_ATTEMPTS: '1',
    });
    try {
      const value = JSON.stringify({ f: 'ca1e646dc11e4a70', s: '2026-11-21T22:43:03Z', m: { alertname: 'X' } });
      const form = `payload=${encodeURIComponent(
        JSON.stringify({
          type: 'block_actions',
          user: { id: USER },
          channel: { id: 'C0ALERTS' },
          actions: [{ action_id: ACTIONS.silence, value }],
        }),
      )}`;
      expect((await request(svc.url).post('/slack/interactions').set(sign(form)).send(form)).status).toBe(200);
      const told = await until('the ephemeral error', () => slack.ephemerals.find((e) => e.user === USER));
      expect(told.text).toMatch(/^:warning: Silencing failed: alertmanager: /);
    } finally {
      await svc.stop();
      await slack.stop();
    }
  });
});
