import { DEFAULT_SERVICE_LABELS } from '../src/analyze/service';
import { OutboundError } from '../src/clients/http';
import { mergeView } from '../src/publish/group-view';
import { buildTrigger, PagerDutyPublisher, pagerDutyDedupKey, PAGERDUTY_LIMITS, type PagerDutyOptions } from '../src/publish/pagerduty';
import { buildSlackMessage } from '../src/publish/slack-blocks';
import { MemoryPublishState } from '../src/publish/state';
import type { FakeReply } from './fakes/http';
import { FAKE_ROUTING_KEY, FakePagerDuty, PD_THROTTLED } from './fakes/pagerduty';
import { outcome, type Outcome } from './helpers/outcome';
import { eventFor, eventPayload, loadPayload, NARRATION, NOW, recordsFor } from './publish-records';

const signal = new AbortController().signal;

let pd: FakePagerDuty;
let state: MemoryPublishState;

beforeEach(async () => {
  pd = await new FakePagerDuty().start();
  state = new MemoryPublishState();
});
afterEach(async () => {
  await pd.stop();
});

function publisher(overrides: Partial<PagerDutyOptions> = {}): PagerDutyPublisher {
  return new PagerDutyPublisher(state, {
    routingKey: FAKE_ROUTING_KEY,
    eventsUrl: `${pd.url}/v2/enqueue`,
    minSeverity: 'critical',
    serviceLabels: DEFAULT_SERVICE_LABELS,
    grafanaUrl: 'https://grafana.example.com',
    timeoutMs: 2000,
    ...overrides,
  });
}

describe('PagerDuty Events API answers, status by status', () => {
  const table: [string, FakeReply | undefined, Outcome][] = [
    ['202 is success', undefined, { ok: true }],
    [
      '400 is permanent',
      { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: ['x'] } },
      { ok: false, reason: 'client', retryable: false },
    ],
    [
      '429 is retried after Retry-After',
      { ...PD_THROTTLED, headers: { 'Retry-After': '12' } },
      { ok: false, reason: 'rate_limited', retryable: true, retryAfterMs: 12000 },
    ],
    ['500 is retried', { status: 500, body: '' }, { ok: false, reason: 'server', retryable: true }],
    ['502 is retried', { status: 502, body: 'bad gateway' }, { ok: false, reason: 'server', retryable: true }],
    ['403 is permanent', { status: 403, body: '' }, { ok: false, reason: 'auth', retryable: false }],
  ];
  it.each(table)('%s', async (_name, reply, expected) => {
    if (reply) pd.failNext(reply);
    expect(await outcome(publisher().publish(eventFor(loadPayload('am-webhook-01')), signal))).toEqual(expected);
  });

  it('waits out a short Retry-After in place and then sends once', async () => {
    pd.failNext({ ...PD_THROTTLED, headers: { 'Retry-After': '1' } });
    await publisher().publish(eventFor(loadPayload('am-webhook-01')), signal);
    expect(pd.requests).toHaveLength(2);
    expect(pd.accepted()).toHaveLength(1);
  });

  it("logs PagerDuty's own reason for a 400, and never the routing key", async () => {
    const err = (await publisher({ routingKey: 'too-short-key-12345' })
      .publish(eventFor(loadPayload('am-webhook-01')), signal)
      .catch((e: unknown) => e)) as OutboundError;
    expect(err).toBeInstanceOf(OutboundError);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("Length of 'routing_key' is incorrect");
    expect(err.message).not.toContain('too-short-key-12345');
  });
});

describe('the PagerDuty alert of a group', () => {
  it('is triggered for a critical group, with a mapped severity, findings, summary and links', async () => {
    const payload = loadPayload('am-webhook-01');
    const result = await publisher().publish(eventFor(payload), signal);
    expect(result).toEqual({ target: 'pagerduty', published: true });
    const [event] = pd.accepted();
    expect(event).toMatchObject({
      event_action: 'trigger',
      dedup_key: payload.groupKey,
      payload: {
        summary: `[FIRING:1] CheckoutLatencyHigh: ${NARRATION.summary}`,
        severity: 'critical',
        source: 'checkout-7.example.internal:9000',
        component: 'checkout',
        group: 'demo',
        class: 'CheckoutLatencyHigh',
        custom_details: {
          verdict: 'Action required',
          root_cause: NARRATION.rootCause,
          next_steps: NARRATION.actions,
          narrator: 'ollama:qwen2.5:3b-instruct (AI, verify before acting)',
        },
      },
    });
    const details = (event!.payload as { custom_details: { findings: string[] } }).custom_details;
    expect(details.findings).toContain('[L1] 412× "upstream connect error: payments:9090 connection refused" (new)');
    const links = event!.links as { href: string; text: string }[];
    expect(links.map((l) => l.text)).toEqual(['Metrics', 'Logs', 'Trace 4bf92f35', 'Trace 00f067aa', 'Runbook', 'Silence']);
    expect(links.find((l) => l.text === 'Runbook')?.href).toBe('https://runbooks.example.com/checkout/latency');
    expect(links.find((l) => l.text === 'Metrics')?.href).toMatch(/^https:\/\/grafana\.example\.com\/explore\?/);
  });

  it('links to the same Grafana window as the Slack message of the group', async () => {
    const payload = loadPayload('am-webhook-01');
    // Two hours into the incident: the window must run to now, not stop an hour after the start.
    const now = new Date(NOW.getTime() + 2 * 3600_000);
    await publisher({ now: () => now }).publish(eventFor(payload), signal);
    const pdMetrics = (pd.accepted()[0]!.links as { href: string; text: string }[]).find((l) => l.text === 'Metrics')?.href;
    const slack = buildSlackMessage(mergeView(undefined, recordsFor(payload, 'firing')).view, eventPayload(payload), {
      now,
      grafanaUrl: 'https://grafana.example.com',
      serviceLabels: DEFAULT_SERVICE_LABELS,
    });
    const slackMetrics = /<([^|>]+)\|Metrics>/.exec(JSON.stringify(slack.blocks))?.[1];
    expect(pdMetrics).toBeDefined();
    expect(slackMetrics).toBe(pdMetrics);
  });

  it('is not triggered for a warning group while PAGERDUTY_MIN_SEVERITY is critical', async () => {
    const result = await publisher().publish(eventFor(loadPayload('am-webhook-04')), signal);
    expect(result.published).toBe(false);
    expect(pd.requests).toHaveLength(0);
  });

  it('is triggered for a warning group when PAGERDUTY_MIN_SEVERITY is warning', async () => {
    await publisher({ minSeverity: 'warning' }).publish(eventFor(loadPayload('am-webhook-04')), signal);
    expect(pd.accepted()).toHaveLength(1);
    expect(pd.accepted()[0]).toMatchObject({
      payload: { severity: 'warning', summary: expect.stringMatching(/^\[FIRING:4\] HighErrorRate: /) },
    });
  });

  it('is sent once when a job retries the same event', async () => {
    const event = eventFor(loadPayload('am-webhook-01'));
    await publisher().publish(event, signal);
    const again = await publisher().publish(structuredClone(event), signal);
    expect(again.published).toBe(false);
    expect(pd.requests).toHaveLength(1);
  });

  it('is resolved with the same dedup key when the group resolves', async () => {
    const firing = loadPayload('am-webhook-01');
    await publisher().publish(eventFor(firing), signal);
    await publisher().publish(eventFor(loadPayload('am-webhook-06'), 'resolve'), signal);
    const incident = pd.incidents.get(firing.groupKey);
    expect(incident?.status).toBe('resolved');
    expect(incident?.events.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
    expect(incident?.events[1]).toEqual({ routing_key: FAKE_ROUTING_KEY, event_action: 'resolve', dedup_key: firing.groupKey });
  });

  it('stays open while part of the group still fires', async () => {
    const mixed = loadPayload('am-webhook-07');
    const p = publisher({ minSeverity: 'warning' });
    await p.publish(eventFor(mixed), signal);
    const result = await p.publish({ kind: 'resolve', payload: eventPayload(mixed), records: recordsFor(mixed, 'resolved') }, signal);
    expect(result.published).toBe(false);
    expect(pd.incidents.get(mixed.groupKey)?.status).toBe('triggered');
  });

  it('sends the improved summary when the narration follow-up arrives', async () => {
    const payload = loadPayload('am-webhook-01');
    await publisher().publish(eventFor(payload, 'initial', { ...NARRATION, summary: 'template note', narrator: 'template' }), signal);
    await publisher().publish(eventFor(payload, 'narration'), signal);
    const events = pd.incidents.get(payload.groupKey)?.events ?? [];
    expect(events.map((e) => (e.payload as { summary: string }).summary)).toEqual([
      '[FIRING:1] CheckoutLatencyHigh: template note',
      `[FIRING:1] CheckoutLatencyHigh: ${NARRATION.summary}`,
    ]);
  });
});

describe('PagerDuty state only moves forward (finding 2)', () => {
  it('gets no trigger from a narration that arrives after the group resolved', async () => {
    const firing = loadPayload('am-webhook-01');
    await publisher().publish(eventFor(firing, 'initial', { ...NARRATION, narrator: 'template' }), signal);
    await publisher().publish(eventFor(loadPayload('am-webhook-06'), 'resolve'), signal);
    await publisher().publish(eventFor(firing, 'narration'), signal);
    const incident = pd.incidents.get(firing.groupKey);
    expect(incident?.events.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
    expect(incident?.status).toBe('resolved');
  });

  it('gets no trigger from a firing job retried after the group resolved', async () => {
    const firing = loadPayload('am-webhook-01');
    // The firing job's trigger fails; the resolve goes through before its retry.
    pd.failNext({ status: 503, body: '' });
    await expect(publisher().publish(eventFor(firing), signal)).rejects.toThrow();
    await publisher().publish(eventFor(loadPayload('am-webhook-06'), 'resolve'), signal);
    await publisher().publish(eventFor(firing), signal);
    // The failed trigger, the resolve, and nothing after it.
    expect(pd.requests.map((r) => (r.json as { event_action: string }).event_action)).toEqual(['trigger', 'resolve']);
  });

  it('is triggered again by a new alert of the group after the resolve', async () => {
    const firing = loadPayload('am-webhook-01');
    await publisher().publish(eventFor(firing), signal);
    await publisher().publish(eventFor(loadPayload('am-webhook-06'), 'resolve'), signal);
    const again = structuredClone(firing);
    again.alerts[0]!.startsAt = new Date(Date.parse(firing.alerts[0]!.startsAt) + 3600_000).toISOString();
    await publisher().publish(eventFor(again), signal);
    expect(pd.incidents.get(firing.groupKey)?.events.map((e) => e.event_action)).toEqual(['trigger', 'resolve', 'trigger']);
  });
});

describe('PagerDuty limits', () => {
  it('hashes a group key longer than 255 characters into a stable dedup key', () => {
    const long = `{}:{${'service="x", '.repeat(40)}}`;
    const key = pagerDutyDedupKey(long);
    expect(key.length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.dedupKey);
    expect(key).toBe(pagerDutyDedupKey(long));
    expect(key).not.toBe(pagerDutyDedupKey(`${long} `));
    expect(pagerDutyDedupKey('{}:{a="b"}')).toBe('{}:{a="b"}');
  });

  it('keeps the summary at 1024 characters and the event under 512 KB, and PagerDuty accepts it', async () => {
    const payload = loadPayload('am-webhook-04');
    const records = recordsFor(payload, 'firing', { ...NARRATION, summary: 'x'.repeat(5000) }).map((r) => ({
      ...r,
      severity: 'critical',
      findings: Array.from({ length: 400 }, (_, i) => ({ id: `L${i + 1}`, kind: 'log' as const, text: 'y'.repeat(5000) })),
      labels: { ...r.labels, big: 'z'.repeat(200_000) },
    }));
    const event = { kind: 'initial' as const, payload: eventPayload(payload), records };
    const trigger = buildTrigger(event, records, { routingKey: FAKE_ROUTING_KEY, serviceLabels: DEFAULT_SERVICE_LABELS });
    expect(trigger.payload.summary.length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.summary);
    expect(Buffer.byteLength(JSON.stringify(trigger))).toBeLessThanOrEqual(PAGERDUTY_LIMITS.eventBytes);
    await publisher().publish(event, signal);
    expect(pd.accepted()).toHaveLength(1);
  });
});
