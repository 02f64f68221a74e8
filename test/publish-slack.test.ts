import { Writable } from 'node:stream';
import pino from 'pino';
import { DEFAULT_SERVICE_LABELS } from '../src/analyze/service';
import { OutboundError } from '../src/clients/http';
import { SlackBotPublisher, SlackWebhookPublisher, type SlackBotOptions } from '../src/publish/slack';
import { MemoryPublishState } from '../src/publish/state';
import type { FakeReply } from './fakes/http';
import { FAKE_SLACK_TOKEN, FAKE_WEBHOOK_PATH, FakeSlack } from './fakes/slack';
import { outcome, type Outcome } from './helpers/outcome';
import { botOptions, eventFor, eventPayload, loadPayload, NARRATION, NOW, recordsFor } from './publish-records';

const signal = new AbortController().signal;

let slack: FakeSlack;
let state: MemoryPublishState;

beforeEach(async () => {
  slack = await new FakeSlack().start();
  state = new MemoryPublishState();
});
afterEach(async () => {
  await slack.stop();
});

function bot(overrides: Partial<SlackBotOptions> = {}): SlackBotPublisher {
  return new SlackBotPublisher(state, botOptions(slack.url, overrides));
}

describe('Slack Web API answers, status by status', () => {
  const table: [string, FakeReply | undefined, Outcome][] = [
    ['200 ok:true publishes', undefined, { ok: true }],
    [
      '200 ok:false ratelimited is retried after Retry-After',
      { status: 200, headers: { 'Retry-After': '40' }, body: { ok: false, error: 'ratelimited' } },
      { ok: false, reason: 'rate_limited', retryable: true, retryAfterMs: 40000 },
    ],
    [
      'HTTP 429 is retried after Retry-After',
      { status: 429, headers: { 'Retry-After': '30' }, body: { ok: false, error: 'ratelimited' } },
      { ok: false, reason: 'rate_limited', retryable: true, retryAfterMs: 30000 },
    ],
    [
      '200 ok:false invalid_auth is permanent',
      { status: 200, body: { ok: false, error: 'invalid_auth' } },
      { ok: false, reason: 'auth', retryable: false },
    ],
    [
      '200 ok:false channel_not_found is permanent',
      { status: 200, body: { ok: false, error: 'channel_not_found' } },
      { ok: false, reason: 'client', retryable: false },
    ],
    [
      '200 ok:false not_in_channel is permanent',
      { status: 200, body: { ok: false, error: 'not_in_channel' } },
      { ok: false, reason: 'client', retryable: false },
    ],
    [
      '200 ok:false internal_error is retried',
      { status: 200, body: { ok: false, error: 'internal_error' } },
      { ok: false, reason: 'server', retryable: true },
    ],
    ['HTTP 500 is retried', { status: 500, body: 'oops' }, { ok: false, reason: 'server', retryable: true }],
    ['HTTP 503 is retried', { status: 503, body: 'unavailable' }, { ok: false, reason: 'server', retryable: true }],
    ['HTTP 400 is permanent', { status: 400, body: 'bad' }, { ok: false, reason: 'client', retryable: false }],
    [
      '200 with a body that is not JSON is permanent',
      { status: 200, body: '<html>proxy</html>' },
      { ok: false, reason: 'bad_response', retryable: false },
    ],
    [
      '200 JSON without ok is permanent',
      { status: 200, body: { hello: 'proxy' } },
      { ok: false, reason: 'bad_response', retryable: false },
    ],
    [
      'HTTP 429 without a usable Retry-After is rate limited, left to the job backoff',
      { status: 429, body: { ok: false, error: 'ratelimited' } },
      { ok: false, reason: 'rate_limited', retryable: true },
    ],
    ['HTTP 403 is an auth failure', { status: 403, body: 'forbidden' }, { ok: false, reason: 'auth', retryable: false }],
    [
      'an answer slower than the timeout is a retryable timeout',
      { status: 200, body: { ok: true, channel: 'C0ALERTS', ts: '1.000001' }, delayMs: 3000 },
      { ok: false, reason: 'timeout', retryable: true },
    ],
  ];
  it.each(table)('%s', async (_name, reply, expected) => {
    if (reply) slack.failNext(reply);
    const payload = loadPayload('am-webhook-01');
    expect(await outcome(bot().publish(eventFor(payload), signal))).toEqual(expected);
  });

  it('waits out a short Retry-After in place and then posts once', async () => {
    slack.failNext({ status: 429, headers: { 'Retry-After': '1' }, body: { ok: false, error: 'ratelimited' } });
    const result = await bot().publish(eventFor(loadPayload('am-webhook-01')), signal);
    expect(result.published).toBe(true);
    expect(slack.requestsTo('/api/chat.postMessage')).toHaveLength(2);
    expect(slack.topLevel()).toHaveLength(1);
  });

  it('leaves a second 429 in a row to the job backoff', async () => {
    slack.failNext({ status: 429, headers: { 'Retry-After': '1' }, body: { ok: false, error: 'ratelimited' } }, 2);
    expect(await outcome(bot().publish(eventFor(loadPayload('am-webhook-01')), signal))).toEqual({
      ok: false,
      reason: 'rate_limited',
      retryable: true,
      retryAfterMs: 1000,
    });
    expect(slack.topLevel()).toHaveLength(0);
  });

  it('explains the fix of a permanent error without printing the token', async () => {
    const err = (await bot({ channel: '#private' })
      .publish(eventFor(loadPayload('am-webhook-01')), signal)
      .catch((e: unknown) => e)) as OutboundError;
    expect(err).toBeInstanceOf(OutboundError);
    expect(err.message).toContain('not_in_channel');
    expect(err.message).toContain('invite the bot');
    expect(err.message).not.toContain(FAKE_SLACK_TOKEN);
  });

  it('reports a refused connection as a retryable network failure', async () => {
    const closed = new FakeSlack();
    await closed.start();
    const url = closed.url;
    await closed.stop();
    expect(await outcome(bot({ apiUrl: `${url}/api` }).publish(eventFor(loadPayload('am-webhook-01')), signal))).toEqual({
      ok: false,
      reason: 'network',
      retryable: true,
    });
  });

  it('stops waiting when the job is aborted', async () => {
    slack.latencyMs = 1500;
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 200);
    expect(await outcome(bot().publish(eventFor(loadPayload('am-webhook-01')), ctl.signal))).toEqual({
      ok: false,
      reason: 'aborted',
      retryable: false,
    });
  });

  it('reports a wrong token as an auth failure', async () => {
    const result = await outcome(bot({ token: 'xoxb-wrong' }).publish(eventFor(loadPayload('am-webhook-01')), signal));
    expect(result).toEqual({ ok: false, reason: 'auth', retryable: false });
  });
});

describe("Slack's own client (@slack/web-api) carries the calls", () => {
  it('sends form-encoded arguments, blocks as JSON, the token only in the Authorization header', async () => {
    await bot().publish(eventFor(loadPayload('am-webhook-01')), signal);
    const [req] = slack.requestsTo('/api/chat.postMessage');
    expect(req!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req!.headers['user-agent']).toContain('@slack:web-api');
    expect(req!.headers.authorization).toBe(`Bearer ${FAKE_SLACK_TOKEN}`);
    expect(req!.body).not.toContain(FAKE_SLACK_TOKEN);
    const form = new URLSearchParams(req!.body);
    expect(Array.isArray(JSON.parse(form.get('blocks')!))).toBe(true);
    expect(form.get('parse')).toBe('none');
  });

  it('never writes the token into a log line, at debug level, whatever the answer', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const log = pino({ level: 'debug' }, sink);
    // A token the fake does not know, so the answers are errors too; its own client (one per token) logs to this sink.
    const token = 'xoxb-1111111111-2222222222-LOGSECRETabcdef';
    const errors: unknown[] = [];
    for (const reply of [undefined, { status: 500, body: 'oops' }, { status: 429, headers: { 'Retry-After': '30' }, body: {} }]) {
      if (reply) slack.failNext(reply);
      await bot({ token, log })
        .publish(eventFor(loadPayload('am-webhook-01')), signal)
        .catch((e: unknown) => errors.push(e));
    }
    expect(errors).toHaveLength(3);
    const text = [...lines, ...errors.map((e) => `${String(e)} ${JSON.stringify(e)}`)].join('\n');
    expect(text).not.toContain('LOGSECRET');
    expect(slack.requests.every((r) => r.headers.authorization === `Bearer ${token}`)).toBe(true);
  });
});

describe('the fake Slack reads arguments as Slack does', () => {
  const post = (type: string, body: string) =>
    fetch(`${slack.url}/api/chat.postMessage`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${FAKE_SLACK_TOKEN}`, 'Content-Type': type },
      body,
    }).then((r) => r.json() as Promise<{ ok: boolean; error?: string }>);

  it('accepts a JSON body and a form-encoded one alike, and nothing else', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }];
    const metadata = { event_type: 'alert_annotator_group', event_payload: { group: 'abc' } };
    expect(
      await post('application/json; charset=utf-8', JSON.stringify({ channel: 'C0ALERTS', text: 'json', blocks, metadata })),
    ).toMatchObject({
      ok: true,
    });
    const form = new URLSearchParams({
      channel: 'C0ALERTS',
      text: 'form',
      blocks: JSON.stringify(blocks),
      metadata: JSON.stringify(metadata),
    });
    expect(await post('application/x-www-form-urlencoded', form.toString())).toMatchObject({ ok: true });
    expect(await post('text/plain', 'channel=C0ALERTS&text=x')).toEqual({ ok: false, error: 'invalid_arguments' });
    expect(slack.topLevel().map((m) => [m.text, m.blocks, m.metadata])).toEqual([
      ['json', blocks, metadata],
      ['form', blocks, metadata],
    ]);
    expect(slack.topLevelPosts('C0ALERTS')).toBe(2);
    const counts = (await (await fetch(`${slack.url}/_fake/counts`)).json()) as unknown;
    expect(counts).toEqual({ topLevelPosts: { C0ALERTS: 2 }, replies: 0, updates: 0 });
  });

  it('rejects metadata that is not an event_type with an object payload', async () => {
    const form = new URLSearchParams({
      channel: 'C0ALERTS',
      text: 'x',
      metadata: JSON.stringify({ event_type: 'bad type!', event_payload: {} }),
    });
    expect(await post('application/x-www-form-urlencoded', form.toString())).toEqual({ ok: false, error: 'invalid_metadata_schema' });
    expect(slack.topLevelPosts()).toBe(0);
  });
});

describe('the Slack message of a group, with a bot token', () => {
  it('is posted once and answers with its ts', async () => {
    const result = await bot().publish(eventFor(loadPayload('am-webhook-01')), signal);
    expect(slack.topLevel()).toHaveLength(1);
    expect(result).toEqual({ target: 'slack', published: true, slackTs: slack.topLevel()[0]!.ts, slackChannel: 'C0ALERTS' });
    expect(slack.argsOf('chat.postMessage')[0]).toMatchObject({
      channel: '#alerts',
      unfurl_links: false,
      link_names: false,
    });
  });

  it('is not posted again when the same event is published again (a job retry)', async () => {
    const event = eventFor(loadPayload('am-webhook-04'));
    const first = await bot().publish(event, signal);
    const again = await bot().publish(structuredClone(event), signal);
    expect(slack.requestsTo('/api/chat.postMessage')).toHaveLength(1);
    expect(slack.requestsTo('/api/chat.update')).toHaveLength(0);
    expect(again).toEqual({ target: 'slack', published: false, slackTs: first.slackTs, slackChannel: 'C0ALERTS' });
  });

  it('records its intent before the post, then remembers its message and marks the event delivered in one write', async () => {
    const event = eventFor(loadPayload('am-webhook-01'));
    const save = jest.spyOn(state, 'save');
    await bot().publish(event, signal);
    expect(save).toHaveBeenCalledTimes(2);
    // First the intent (before chat.postMessage: no ts, no marker) ...
    const [intentGroup, intentPatch, intentMarker] = save.mock.calls[0]!;
    expect(intentPatch).toEqual({ slackIntent: expect.objectContaining({ channel: '#alerts', attempt: 1 }) });
    expect(intentMarker).toBeUndefined();
    // ... then the ts, the view and the marker together, which clears the intent.
    const [group, patch, marker] = save.mock.calls[1]!;
    expect(group).toBe(intentGroup);
    expect(patch.slack?.ts).toBe(slack.topLevel()[0]!.ts);
    expect(marker).toMatch(/^slack:/);
    const loaded = await state.load(group, marker);
    expect(loaded).toMatchObject({ state: { slack: { ts: slack.topLevel()[0]!.ts } }, done: true });
    expect(loaded.state.slackIntent).toBeUndefined();
    await bot().publish(event, signal);
    expect(slack.topLevel()).toHaveLength(1);
    expect(slack.topLevel()[0]!.updates).toBe(0);
    expect(slack.messages).toHaveLength(1);
  });

  it('is updated with a thread reply naming the alerts that joined the group', async () => {
    const payload = loadPayload('am-webhook-04');
    const all = recordsFor(payload, 'firing');
    await bot().publish({ kind: 'initial', payload: eventPayload(payload), records: all.slice(0, 2) }, signal);
    await bot().publish({ kind: 'initial', payload: eventPayload(payload), records: all.slice(2) }, signal);
    const [root] = slack.topLevel();
    expect(slack.topLevel()).toHaveLength(1);
    expect(root!.updates).toBe(1);
    expect(JSON.stringify(root!.blocks)).toContain('4 firing');
    const replies = slack.replies(root!.ts);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.text).toBe(':heavy_plus_sign: 2 new alerts firing: instance=api-3 node=api-3, instance=api-4 node=api-4');
  });

  it('is updated with the AI summary when the narration follow-up arrives', async () => {
    const payload = loadPayload('am-webhook-01');
    const template = { ...NARRATION, summary: 'Checkout p99 latency above 2s', narrator: 'template' };
    await bot().publish(eventFor(payload, 'initial', template), signal);
    await bot().publish(eventFor(payload, 'narration'), signal);
    const [root] = slack.topLevel();
    expect(root!.updates).toBe(1);
    expect(JSON.stringify(root!.blocks)).toContain(NARRATION.summary);
    expect(JSON.stringify(root!.blocks)).toContain('AI summary by ollama:qwen2.5:3b-instruct');
    expect(slack.replies(root!.ts).map((r) => r.text)).toEqual([
      ':memo: Summary updated. AI summary by ollama:qwen2.5:3b-instruct · 1 call · 2.1k tokens · verify before acting',
    ]);
  });

  it('is updated to resolved, with "resolved after" in the thread', async () => {
    await bot().publish(eventFor(loadPayload('am-webhook-01')), signal);
    const resolved = loadPayload('am-webhook-06');
    const result = await bot().publish(eventFor(resolved, 'resolve'), signal);
    const [root] = slack.topLevel();
    expect(slack.topLevel()).toHaveLength(1);
    expect(result.slackTs).toBe(root!.ts);
    expect(JSON.stringify(root!.blocks?.[0])).toContain('RESOLVED · CheckoutLatencyHigh');
    const alert = resolved.alerts[0]!;
    // Rounded like the resolved record's own summary, so the thread and the record agree.
    const minutes = Math.round((Date.parse(alert.endsAt) - Date.parse(alert.startsAt)) / 60_000);
    expect(slack.replies(root!.ts).map((r) => r.text)).toEqual([
      `:white_check_mark: Resolved after ${minutes < 1 ? 'under 1 min' : `${minutes} min`}.`,
    ]);
  });

  it('stays resolved when the narration arrives after the resolve, and shows the new narrative (finding 2)', async () => {
    const firing = loadPayload('am-webhook-01');
    const template = { ...NARRATION, summary: 'CheckoutLatencyHigh is firing on checkout', narrator: 'template' };
    await bot().publish(eventFor(firing, 'initial', template), signal);
    await bot().publish(eventFor(loadPayload('am-webhook-06'), 'resolve'), signal);
    await bot().publish(eventFor(firing, 'narration'), signal);
    const [root] = slack.topLevel();
    expect(JSON.stringify(root!.blocks?.[0])).toContain('RESOLVED · CheckoutLatencyHigh');
    expect(root!.text).toMatch(/RESOLVED · CheckoutLatencyHigh: Resolved after /);
    expect(JSON.stringify(root!.blocks)).toContain(NARRATION.rootCause.slice(0, 40));
  });

  it('stays resolved when a firing job is retried after the resolve (finding 2)', async () => {
    const firing = loadPayload('am-webhook-01');
    await bot().publish(eventFor(firing), signal);
    await bot().publish(eventFor(loadPayload('am-webhook-06'), 'resolve'), signal);
    // The same firing event again, as from a job retried after the resolve: a new marker (other records' times).
    const retried = eventFor(firing, 'initial', { ...NARRATION, summary: 'retried' });
    await bot().publish({ ...retried, kind: 'narration' }, signal);
    const [root] = slack.topLevel();
    expect(JSON.stringify(root!.blocks?.[0])).toContain('RESOLVED · CheckoutLatencyHigh');
    expect(JSON.stringify(root!.blocks)).toContain('0 firing, 1 resolved');
  });

  it('writes the resolve text for the resolve, not the firing summary (finding 2)', async () => {
    const firing = loadPayload('am-webhook-01');
    const template = { ...NARRATION, summary: 'CheckoutLatencyHigh is firing on checkout', narrator: 'template' };
    await bot().publish(eventFor(firing, 'initial', template), signal);
    await bot().publish(eventFor(loadPayload('am-webhook-06'), 'resolve'), signal);
    const [root] = slack.topLevel();
    expect(root!.text).not.toContain('is firing');
    expect(root!.text).toMatch(/Resolved after /);
  });

  it('finds its message again from the record after the Redis state was lost', async () => {
    const payload = loadPayload('am-webhook-01');
    const first = await bot({ channel: 'C0ALERTS' }).publish(eventFor(payload), signal);
    state.clear();
    const resolve = eventFor(loadPayload('am-webhook-06'), 'resolve');
    for (const r of resolve.records) r.slackTs = first.slackTs;
    await bot({ channel: 'C0ALERTS' }).publish(resolve, signal);
    expect(slack.topLevel()).toHaveLength(1);
    expect(slack.topLevel()[0]!.updates).toBe(1);
  });

  it('posts a new message when the remembered one was deleted', async () => {
    const payload = loadPayload('am-webhook-04');
    const all = recordsFor(payload, 'firing');
    await bot().publish({ kind: 'initial', payload: eventPayload(payload), records: all.slice(0, 1) }, signal);
    slack.deleteAll();
    const result = await bot().publish({ kind: 'initial', payload: eventPayload(payload), records: all.slice(1) }, signal);
    expect(slack.topLevel()).toHaveLength(1);
    expect(result.slackTs).toBe(slack.topLevel()[0]!.ts);
  });

  it('is posted once, without thread noise, for a first notification that mixes firing and resolved alerts', async () => {
    const mixed = loadPayload('am-webhook-07');
    await bot().publish(eventFor(mixed, 'initial'), signal);
    await bot().publish(eventFor(mixed, 'resolve'), signal);
    const [root] = slack.topLevel();
    expect(slack.messages).toEqual([root]);
    expect(JSON.stringify(root!.blocks)).toContain('3 firing, 1 resolved');
  });

  it('is not posted for alerts below SLACK_MIN_SEVERITY', async () => {
    const result = await bot({ minSeverity: 'critical' }).publish(eventFor(loadPayload('am-webhook-04')), signal);
    expect(result.published).toBe(false);
    expect(slack.requests).toHaveLength(0);
  });

  it('publishes neither the mention nor the link a model answer contains', async () => {
    const evil = {
      ...NARRATION,
      summary: '<!channel> checkout is down, details at <https://evil.example/phish|the dashboard>',
      rootCause: 'Ask <@U024BE7LH> and <!subteam^SAZ94GDB8|@oncall>; see https://evil.example/more or <!here>',
      actions: ['Open www.evil.example/login & paste your token', 'ping @here'],
    };
    await bot().publish(eventFor(loadPayload('am-webhook-01'), 'initial', evil), signal);
    const sent = slack.allBodies();
    expect(slack.topLevel()).toHaveLength(1);
    for (const forbidden of ['<!channel>', '<!here>', '<@U024BE7LH>', '<!subteam', 'evil.example', '@here']) {
      expect(sent).not.toContain(forbidden);
    }
    expect(sent).toContain('checkout is down, details at the dashboard');
    expect(sent).toContain('Open [link removed] &amp; paste your token');
  });
});

describe('the Slack message of a group, with an incoming webhook', () => {
  function hook(): SlackWebhookPublisher {
    return new SlackWebhookPublisher(state, {
      webhookUrl: `${slack.url}${FAKE_WEBHOOK_PATH}`,
      minSeverity: 'info',
      serviceLabels: DEFAULT_SERVICE_LABELS,
      now: () => NOW,
      timeoutMs: 2000,
    });
  }

  it('is one message per event, and a retried event posts once', async () => {
    await hook().publish(eventFor(loadPayload('am-webhook-01')), signal);
    await hook().publish(eventFor(loadPayload('am-webhook-01')), signal);
    await hook().publish(eventFor(loadPayload('am-webhook-06'), 'resolve'), signal);
    expect(slack.webhookMessages).toHaveLength(2);
    expect(JSON.stringify(slack.webhookMessages[1])).toContain('RESOLVED');
  });

  it('keeps the webhook URL, which is the secret, out of errors', async () => {
    slack.failNext({ status: 404, body: 'no_service' });
    const err = (await hook()
      .publish(eventFor(loadPayload('am-webhook-01')), signal)
      .catch((e: unknown) => e)) as OutboundError;
    expect(err).toBeInstanceOf(OutboundError);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('no_service');
    expect(err.message).not.toContain('fakewebhooksecret');
  });
});
