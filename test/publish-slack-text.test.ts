import { mergeView } from '../src/publish/group-view';
import { buildSlackMessage } from '../src/publish/slack-blocks';
import { slackMessageText } from '../src/publish/slack-text';
import { eventFor, loadPayload, NARRATION, NOW } from './publish-records';

const card = (grafanaUrl?: string) => {
  const event = eventFor(loadPayload('am-webhook-04'));
  const { view } = mergeView(undefined, event.records);
  return buildSlackMessage(view, event.payload, { now: NOW, serviceLabels: ['service'], ...(grafanaUrl ? { grafanaUrl } : {}) });
};

describe('a Slack card as terminal text', () => {
  it('shows every block of the card in order, with no mrkdwn left in it', () => {
    const message = card('https://grafana.example.com');
    const text = slackMessageText(message, { width: 100 });
    // Block by block, in the card's own order (whatever layout the card builder chooses).
    let from = 0;
    for (const block of message.blocks) {
      const alone = slackMessageText({ text: '', blocks: [block] }, { width: 100 }).replace(/\[\d+\]/g, '[n]');
      const at = text.replace(/\[\d+\]/g, '[n]').indexOf(alone, from);
      expect({ block: block.type, found: at >= from }).toEqual({ block: block.type, found: true });
      from = at + alone.length;
    }
    expect(text.split('\n')[0]).toBe('🟡 WARNING · FIRING · HighErrorRate');
    expect(text).toContain(NARRATION.summary);
    // The evidence ids the narration cites, with their findings.
    for (const id of NARRATION.evidence ?? []) expect(text).toMatch(new RegExp(`\`${id}\` \\S`));
    expect(text).toContain('AI summary by ollama:qwen2.5:3b-instruct');
    // Markup Slack would interpret is gone: *bold* markers, entities, <url|label>, <!date^…>.
    expect(text).not.toMatch(/(^|\s)\*\w[^*\n]*\*|&amp;|&lt;|&gt;|<https?:|<!date/m);
    expect(text).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  });

  it('numbers each link and lists its URL under the block, every URL the card carries', () => {
    const message = card('https://grafana.example.com');
    const urls = JSON.stringify(message.blocks)
      .match(/<(https?:[^|>]+)\|/g)!
      .map((m) => m.slice(1, -1));
    expect(urls.length).toBeGreaterThan(2);
    const text = slackMessageText(message);
    urls.forEach((url, i) => {
      expect(text).toContain(`  [${i + 1}] ${url}`);
    });
  });

  it('wraps long lines at the width, continuing a bullet under its text; URLs stay whole', () => {
    const long = 'word '.repeat(60).trim();
    const text = slackMessageText(
      {
        text: 'x',
        blocks: [
          {
            type: 'section',
            text: {
              type: 'mrkdwn',
              text: `*Next steps*\n• ${long.replace(/ /g, '  ·  ')}\n• <https://example.com/${'a'.repeat(120)}|runbook>`,
            },
          },
        ],
      },
      { width: 60 },
    );
    const lines = text.split('\n');
    for (const l of lines.filter((x) => !x.startsWith('  ['))) {
      expect(l.length).toBeLessThanOrEqual(60);
      expect(l).toBe(l.trimEnd());
    }
    expect(lines[1]).toMatch(/^• word/);
    expect(lines[2]).toMatch(/^ {2}\S/);
    expect(text).toContain(`  [1] https://example.com/${'a'.repeat(120)}`);
  });

  it('shows blocks it was not written for by their text (buttons, images, new types)', () => {
    const text = slackMessageText({
      text: 'x',
      blocks: [
        {
          type: 'actions',
          elements: [
            { type: 'button', text: { type: 'plain_text', text: ':thumbsup: Right' } },
            { type: 'button', text: { type: 'plain_text', text: 'Silence 2h' } },
          ],
        },
        { type: 'image', alt_text: 'checkout p99 latency' },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: '*Verdict:* Investigate' },
          accessory: { type: 'button', text: { type: 'plain_text', text: 'Re-analyze' } },
        },
        { type: 'rich_text' },
      ],
    });
    expect(text).toContain('[ 👍 Right ]  [ Silence 2h ]');
    expect(text).toContain('[image: checkout p99 latency]');
    expect(text).toContain('Verdict: Investigate\n[ Re-analyze ]');
    expect(text).toContain('[rich_text]');
  });

  it('uses ANSI bold only when asked for colour', () => {
    const message = card();
    expect(slackMessageText(message)).not.toContain('\x1b[');
    const coloured = slackMessageText(message, { color: true });
    expect(coloured).toMatch(/\x1b\[1m[^\x1b]+\x1b\[22m/);
    expect(coloured.replace(/\x1b\[\d+m/g, '')).toBe(slackMessageText(message));
  });

  it('falls back to the notification text for a message without blocks', () => {
    expect(slackMessageText({ text: 'Resolved &amp; quiet :white_check_mark:' })).toBe('Resolved & quiet ✅');
  });
});
