import type { Finding } from '../src/model/analysis';
import { DEFAULT_SERVICE_LABELS } from '../src/analyze/service';
import { mergeView } from '../src/publish/group-view';
import { buildSlackMessage, clipMrkdwn, SLACK_LIMITS, slackText, type SlackBlock } from '../src/publish/slack-blocks';
import { formatDuration } from '../src/text';
import { eventPayload, fixtureNames, loadPayload, NARRATION, NOW, recordsFor } from './publish-records';

const OPTS = { now: NOW, grafanaUrl: 'https://grafana.example.com', serviceLabels: DEFAULT_SERVICE_LABELS };

function texts(blocks: SlackBlock[]): string[] {
  return blocks.flatMap((b) => {
    if (b.type === 'header') return [b.text.text];
    if (b.type === 'section') return 'text' in b ? [b.text.text] : b.fields.map((f) => f.text);
    if (b.type === 'context') return b.elements.map((e) => e.text);
    return [];
  });
}

describe('the Block Kit message of a group', () => {
  it.each(fixtureNames().map((n) => [n.slice(0, 13), n]))('matches the snapshot for %s', (prefix) => {
    const payload = loadPayload(prefix);
    const firing = recordsFor(payload, 'firing');
    const resolved = recordsFor(payload, 'resolved');
    let view = firing.length ? mergeView(undefined, firing).view : undefined;
    if (resolved.length) view = mergeView(view, resolved).view;
    expect(buildSlackMessage(view!, eventPayload(payload), OPTS)).toMatchSnapshot();
  });

  it('shows a resolved group with its original narration and how long it lasted', () => {
    const firing = loadPayload('am-webhook-01');
    const resolved = loadPayload('am-webhook-06');
    const first = mergeView(undefined, recordsFor(firing, 'firing')).view;
    const change = mergeView(first, recordsFor(resolved, 'resolved'));
    expect(change.resolvedNow).toBe(true);
    const msg = buildSlackMessage(change.view, eventPayload(resolved), OPTS);
    expect(msg).toMatchSnapshot();
    const all = texts(msg.blocks).join('\n');
    expect(all).toContain('RESOLVED');
    expect(all).toContain(NARRATION.summary);
    expect(all).not.toContain('Next steps');
  });

  it('spells out the evidence the root cause cites', () => {
    const payload = loadPayload('am-webhook-01');
    const msg = buildSlackMessage(mergeView(undefined, recordsFor(payload, 'firing')).view, eventPayload(payload), OPTS);
    const evidence = texts(msg.blocks).find((t) => t.startsWith('*Evidence*')) ?? '';
    expect(evidence).toContain('`L1` 412× "upstream connect error: payments:9090 connection refused" (new)');
    expect(evidence).toContain('`M1` p99 latency 2.41 s');
    expect(evidence).not.toContain('S1');
  });

  it('stays within every Slack limit when the inputs are huge, by trimming', () => {
    const payload = loadPayload('am-webhook-04');
    const records = recordsFor(payload, 'firing').map((r, i) => ({
      ...r,
      alertname: `VeryLongAlertName${'X'.repeat(300)}`,
      summary: `summary ${i} & `.repeat(800),
      rootCause: 'because & <reasons> '.repeat(900),
      actions: Array.from({ length: 5 }, (_, j) => `step ${j} `.repeat(400)),
      findings: Array.from({ length: 300 }, (_, j) => ({ id: `M${j + 1}`, kind: 'metric' as const, text: `finding ${j} `.repeat(40) })),
      evidence: Array.from({ length: 300 }, (_, j) => `M${j + 1}`),
      suspects: Array.from({ length: 40 }, (_, j) => ({ service: `svc-${j}`.repeat(50), indicator: 'latency', score: j })),
      labels: { ...r.labels, service: 's'.repeat(3000) },
    }));
    const many = Array.from({ length: 300 }, (_, i) => ({
      ...records[0]!,
      fingerprint: (0x1000 + i).toString(16),
      labels: { ...records[0]!.labels, instance: `i-${i}` },
    }));
    const msg = buildSlackMessage(mergeView(undefined, [...records, ...many]).view, eventPayload(payload), OPTS);
    expect(msg.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    const header = msg.blocks.find((b) => b.type === 'header');
    expect(header?.type === 'header' && header.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.header);
    for (const b of msg.blocks) {
      if (b.type === 'section' && 'text' in b) expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
      if (b.type === 'section' && 'fields' in b) for (const f of b.fields) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.field);
    }
    expect(texts(msg.blocks).join('').length).toBeLessThanOrEqual(SLACK_LIMITS.totalChars);
    // The footer that says who wrote the summary survives the trimming.
    expect(texts(msg.blocks).at(-1)).toContain('verify before acting');
    // Escaping turns each & into &amp;: the bound holds for the text as sent.
    expect(msg.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
    expect(msg.text).not.toMatch(/&(?!amp;|lt;|gt;)/);
  });

  it('never links a runbook_url that is not http(s), and keeps | and > out of the links it builds', () => {
    const payload = loadPayload('am-webhook-01');
    const records = recordsFor(payload, 'firing').map((r) => ({
      ...r,
      runbookUrl: 'javascript:alert(1)',
      generatorURL: 'http://prom:9090/graph?g0.expr=a|b>c',
    }));
    const msg = buildSlackMessage(mergeView(undefined, records).view, eventPayload(payload), {
      now: NOW,
      serviceLabels: DEFAULT_SERVICE_LABELS,
    });
    const links = texts(msg.blocks).find((t) => t.includes('Source graph')) ?? '';
    expect(links).not.toContain('javascript');
    expect(links).not.toContain('Runbook');
    expect(links).toContain('<http://prom:9090/graph?g0.expr=a%7Cb%3Ec|Source graph>');
  });
});

describe('the verdict-first card', () => {
  const payload = loadPayload('am-webhook-01');

  it('opens with the verdict, then what broke and the root cause in one sentence with its confidence', () => {
    const records = recordsFor(payload, 'firing', {
      ...NARRATION,
      rootCause: 'payments refuses connections on :9090 [L1]. Checkout waits for timeouts [M1]. More detail here.',
    });
    const msg = buildSlackMessage(mergeView(undefined, records).view, eventPayload(payload), OPTS);
    const first = msg.blocks[1];
    expect(first?.type === 'section' && 'text' in first && first.text.text.split('\n')).toEqual([
      ':rotating_light: *Action required* · check *payments* (error spans)',
      NARRATION.summary,
      '*Root cause* (medium confidence): payments refuses connections on :9090 [L1].',
    ]);
    expect(msg.text.startsWith('Action required · ')).toBe(true);
  });

  it('shows what changed, and offers the rollback as a next step, when a change finding exists', () => {
    const records = recordsFor(payload, 'firing').map((r) => ({
      ...r,
      findings: [
        ...r.findings,
        { id: 'C1', kind: 'change' as Finding['kind'], text: 'deploy payments v1.4.2 by ci at 22:38 UTC (5 min before the alert)' },
      ],
    }));
    const all = texts(buildSlackMessage(mergeView(undefined, records).view, eventPayload(payload), OPTS).blocks);
    expect(all).toContain('*What changed*\n• `C1` deploy payments v1.4.2 by ci at 22:38 UTC (5 min before the alert)');
    expect(all.find((t) => t.startsWith('*Next steps*'))).toContain('Decide whether to roll back `C1` deploy payments v1.4.2');
    expect(all.indexOf('*What changed*\n• `C1` deploy payments v1.4.2 by ci at 22:38 UTC (5 min before the alert)')).toBe(2);
  });

  it('says so when nothing was found for a low-severity alert', () => {
    const records = recordsFor(payload, 'firing').map((r) => ({
      ...r,
      severity: 'warning',
      suspects: [],
      findings: [],
      verdict: undefined,
      confidence: 'low' as const,
    }));
    const first = buildSlackMessage(mergeView(undefined, records).view, eventPayload(payload), OPTS).blocks[1];
    expect(first?.type === 'section' && 'text' in first && first.text.text.split('\n')[0]).toBe(
      ':zzz: *Likely noise* · nothing anomalous in the evidence',
    );
  });
});

describe('text that did not come from us', () => {
  it('points at our runbook link when the narration quotes the runbook URL, and removes other URLs', () => {
    const payload = loadPayload('am-webhook-01');
    const records = recordsFor(payload, 'firing', {
      ...NARRATION,
      actions: ['Follow the runbook: https://runbooks.example.com/checkout/latency.', 'Read https://blog.example.org/fix'],
    });
    const msg = buildSlackMessage(mergeView(undefined, records).view, eventPayload(payload), OPTS);
    const steps = texts(msg.blocks).find((t) => t.startsWith('*Next steps*'));
    // The runbook and suspect steps are ours, with our links; the narrator's copy of the runbook is not repeated.
    expect(steps?.split('\n')).toEqual([
      '*Next steps*',
      '• Follow the <https://runbooks.example.com/checkout/latency|Runbook> for CheckoutLatencyHigh',
      expect.stringMatching(/^• Check \*payments\*: error spans \(<https:\/\/grafana\.example\.com\/explore\?[^|>]+\|payments logs>\)$/),
      '• Read [link removed]',
    ]);
  });

  it.each([
    ['escapes & < >', 'a & b <c> d', 'a &amp; b &lt;c&gt; d'],
    ['turns broadcast mentions into plain words', 'hey <!channel> and <!here> and <!everyone>', 'hey channel and here and everyone'],
    ['turns user and group mentions into plain words', 'ask <@U024BE7LH> or <!subteam^SAZ94GDB8|@oncall>', 'ask a user or a group'],
    ['keeps only the label of a Slack link', 'see <https://evil.example/x|the docs>', 'see the docs'],
    ['removes a bare link', 'go to https://evil.example/path?a=1 now', 'go to [link removed] now'],
    ['removes a www link', 'visit www.evil.example today', 'visit [link removed] today'],
    ['drops invisible bidi overrides', 'safe\u202etxt.exe', 'safetxt.exe'],
    ['defuses plain-word broadcasts', 'ping @channel', 'ping channel'],
  ])('%s', (_name, input, expected) => {
    expect(slackText(input)).toBe(expected);
  });

  it('is clipped without cutting an entity or a link in half', () => {
    expect(clipMrkdwn('abc &amp; def', 7)).toBe('abc …');
    expect(clipMrkdwn('see <http://x.example/abc|Link> after', 12)).toBe('see …');
  });
});

describe('durations, worded alike in the record and the Slack message', () => {
  it.each([
    [20_000, 'under 1 min'],
    [38_000, '1 min'],
    [90_000, '2 min'],
    [59 * 60_000 + 40_000, '1 h 0 min'],
    [50 * 3600_000 + 3 * 60_000, '50 h 3 min'],
  ])('%d ms is "%s"', (ms, words) => {
    expect(formatDuration(ms)).toBe(words);
  });
});
