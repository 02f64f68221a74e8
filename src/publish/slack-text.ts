/**
 * A Slack message as a terminal shows it: Block Kit blocks (what slack-blocks.ts builds)
 * rendered as plain text, so `alert-annotator demo` shows exactly the card Slack would get.
 * It reads the blocks rather than the record, so it follows whatever the card builder
 * produces; block types it does not know are shown by their text, never dropped silently.
 *
 * mrkdwn (https://docs.slack.dev/messaging/formatting-message-text): `*bold*` becomes bold
 * (or plain without colour), `<url|label>` becomes `label [n]` with the URL listed under its
 * block, `<!date^…>` a UTC time, `&amp;` `&lt;` `&gt;` their characters, and the emoji
 * shortcodes the card uses their Unicode form.
 */

export interface TextOptions {
  /** Columns to wrap at (URLs are never cut). */
  width?: number;
  /** ANSI bold and dim; off for pipes and files. */
  color?: boolean;
}

const EMOJI: Record<string, string> = {
  red_circle: '🔴',
  large_orange_circle: '🟠',
  large_yellow_circle: '🟡',
  large_blue_circle: '🔵',
  white_check_mark: '✅',
  heavy_plus_sign: '➕',
  memo: '📝',
  warning: '⚠️',
  mag: '🔍',
  thumbsup: '👍',
  '+1': '👍',
  thumbsdown: '👎',
  '-1': '👎',
  mute: '🔇',
  zzz: '💤',
  rotating_light: '🚨',
  arrows_counterclockwise: '🔄',
  chart_with_upwards_trend: '📈',
};

// Private-use characters mark bold while the text is wrapped; they become ANSI codes (or
// nothing) afterwards, so they never count toward the width.
const BOLD_ON = '\u{E000}';
const BOLD_OFF = '\u{E001}';

/** A loose view of a block: the renderer must not fail on blocks added after it was written. */
interface AnyText {
  type?: string;
  text?: string;
}
interface AnyElement {
  type?: string;
  text?: AnyText | string;
  alt_text?: string;
  url?: string;
  value?: string;
  placeholder?: AnyText;
}
interface AnyBlock {
  type?: string;
  text?: AnyText;
  fields?: AnyText[];
  elements?: AnyElement[];
  accessory?: AnyElement;
  alt_text?: string;
  title?: AnyText;
}

function utc(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function emoji(text: string): string {
  return text.replace(/:([a-z0-9_+-]+):/g, (m: string, name: string) => EMOJI[name] ?? m);
}

function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** mrkdwn → text with bold markers; links are numbered into `links`. */
function fromMrkdwn(text: string, links: string[]): string {
  const replaced = text.replace(/<([^<>]+)>/g, (_m, inner: string) => {
    const [target = '', label] = inner.split('|', 2) as [string, string | undefined];
    const date = /^!date\^(\d+)\^/.exec(target);
    if (date) return utc(Number(date[1]));
    if (target.startsWith('!')) return `@${target.slice(1)}`;
    if (target.startsWith('@') || target.startsWith('#')) return label ? `${target[0]}${label}` : target;
    links.push(target);
    return `${label ?? target} [${links.length}]`;
  });
  const bold = replaced.replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/gm, `$1${BOLD_ON}$2${BOLD_OFF}`);
  return emoji(unescape(bold));
}

function fromPlain(text: string): string {
  return emoji(text);
}

function textOf(t: AnyText | string | undefined, links: string[]): string {
  if (t === undefined) return '';
  if (typeof t === 'string') return t;
  return t.type === 'mrkdwn' ? fromMrkdwn(t.text ?? '', links) : fromPlain(t.text ?? '');
}

const visible = (s: string) => s.replace(/[\u{E000}\u{E001}]/gu, '');

/** Word wrap; a line that starts with a bullet or number continues under its text. */
function wrap(line: string, width: number): string[] {
  if (visible(line).length <= width) return [line];
  const indent = ' '.repeat(/^(\s*(?:[•\-*]|\d+\.)\s+|\s+)/.exec(visible(line))?.[0].length ?? 0);
  const out: string[] = [];
  let current = '';
  let gap = '';
  // Words and the runs of spaces between them: a break drops the run, the rest keep theirs.
  for (const token of line.split(/( +)/)) {
    if (token === '') continue;
    if (token.startsWith(' ')) {
      gap = token;
      continue;
    }
    const candidate = current ? `${current}${gap}${token}` : `${gap}${token}`;
    if (visible(candidate).length > width && visible(current).trim() !== '') {
      out.push(current);
      current = `${indent}${token}`;
    } else current = candidate;
    gap = '';
  }
  if (current) out.push(current);
  return out;
}

/** Bold markers that span a wrapped line are closed and reopened, so each line stands alone. */
function balance(lines: string[]): string[] {
  let open = false;
  return lines.map((l) => {
    const start = open ? BOLD_ON : '';
    for (const ch of l) if (ch === BOLD_ON || ch === BOLD_OFF) open = ch === BOLD_ON;
    return `${start}${l}${open ? BOLD_OFF : ''}`;
  });
}

function paragraph(text: string, width: number): string[] {
  return balance(text.split('\n').flatMap((l) => wrap(l, width)));
}

/** Slack shows section fields in two columns: label on top, value below. Here: `Label: value`, two a line when they fit. */
function fieldLines(fields: AnyText[], width: number, links: string[]): string[] {
  const cells = fields.map((f) => textOf(f, links).replace(/\n/, ': ').replace(/\n/g, ' '));
  const col = Math.floor(width / 2);
  const out: string[] = [];
  for (let i = 0; i < cells.length; i += 2) {
    const a = cells[i]!;
    const b = cells[i + 1];
    if (b !== undefined && visible(a).length < col && visible(b).length <= width - col)
      out.push(a + ' '.repeat(col - visible(a).length) + b);
    else out.push(...paragraph(a, width), ...(b === undefined ? [] : paragraph(b, width)));
  }
  return out;
}

function elementText(e: AnyElement, links: string[]): string {
  switch (e.type) {
    case 'button':
      return `[ ${textOf(e.text, links)} ]`;
    case 'image':
      return `[image: ${e.alt_text ?? ''}]`;
    case 'mrkdwn':
    case 'plain_text':
      return textOf(e as AnyText, links);
    default:
      return e.text !== undefined ? textOf(e.text, links) : e.placeholder ? `[ ${textOf(e.placeholder, links)} ]` : `[${e.type ?? '?'}]`;
  }
}

function blockLines(b: AnyBlock, width: number, links: string[]): { lines: string[]; dim?: boolean } {
  switch (b.type) {
    case 'header':
      return { lines: paragraph(`${BOLD_ON}${textOf(b.text, links)}${BOLD_OFF}`, width) };
    case 'section': {
      const lines = [...(b.text ? paragraph(textOf(b.text, links), width) : []), ...(b.fields ? fieldLines(b.fields, width, links) : [])];
      if (b.accessory) lines.push(elementText(b.accessory, links));
      return { lines };
    }
    case 'context':
      return { lines: paragraph((b.elements ?? []).map((e) => elementText(e, links)).join('  '), width), dim: true };
    case 'actions':
      return { lines: paragraph((b.elements ?? []).map((e) => elementText(e, links)).join('  '), width) };
    case 'divider':
      return { lines: ['─'.repeat(width)] };
    case 'image':
      return { lines: [`[image: ${b.alt_text ?? textOf(b.title, links)}]`] };
    default:
      return { lines: [`[${b.type ?? 'block'}]${b.text ? ` ${textOf(b.text, links)}` : ''}`] };
  }
}

/** The message as lines of text, blocks separated by blank lines, links listed under their block. */
export function slackMessageText(message: { text: string; blocks?: readonly object[] }, opts: TextOptions = {}): string {
  const width = Math.max(40, opts.width ?? 100);
  const style = (s: string, dim: boolean) => {
    const on = opts.color ? '\x1b[1m' : '';
    const off = opts.color ? (dim ? '\x1b[22m\x1b[2m' : '\x1b[22m') : '';
    const body = s.replaceAll(BOLD_ON, on).replaceAll(BOLD_OFF, off);
    return opts.color && dim ? `\x1b[2m${body}\x1b[22m` : body;
  };
  const blocks = (message.blocks ?? []) as AnyBlock[];
  if (blocks.length === 0) return paragraph(fromMrkdwn(message.text, []), width).join('\n');
  const out: string[] = [];
  // Numbered across the message, so each `[n]` is unique in the card.
  const links: string[] = [];
  for (const b of blocks) {
    const before = links.length;
    const { lines, dim = false } = blockLines(b, width, links);
    const previous = blocks[blocks.indexOf(b) - 1];
    if (out.length > 0 && !(b.type === 'context' && previous?.type === 'context')) out.push('');
    out.push(...lines.map((l) => style(l, dim)));
    out.push(...links.slice(before).map((url, i) => style(`  [${before + i + 1}] ${url}`, true)));
  }
  return out.join('\n');
}
