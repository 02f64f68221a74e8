/**
 * Text from outside (log patterns, span messages, label values, annotations) is data anyone
 * who can make an application log a line, or fail a request, controls. It may be shown as a
 * quotation in its place (the prompt's untrusted data section, the record's findings), never
 * spoken in the note's own voice or in a trusted prompt section, and it must never be able to
 * close the data section or forge a section or a chat turn of its own.
 */

/** Read at most this much of one value before any regex runs on it. */
export const MAX_VALUE_CHARS = 4096;

// Zero-width and joiner characters, bidi controls, variation selectors, soft hyphen, Hangul
// fillers: invisible, so they can split a marker word ("LOG\u200bDATA") that a model still reads.
const INVISIBLE =
  // eslint-disable-next-line no-misleading-character-class -- lone combining and format characters are the point: each is dropped on its own
  /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]/g;
// C0/C1 controls (line breaks included, NEL too) and the Unicode line and paragraph separators.
const BREAKS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
// Angle brackets and their look-alikes that NFKC leaves alone (‹ › « » 〈 〉 《 》 ⟨ ⟩ ≪ ≫ ❮ ❯ ⋘ ⋙).
const ANGLE = '<>\u2039\u203a\u00ab\u00bb\u3008\u3009\u300a\u300b\u27e8\u27e9\u226a\u226b\u276e\u276f\u22d8\u22d9';
/** Two or more in a row, spaces between allowed: the shape of a section marker (<<< >>>). */
const ANGLE_RUN = new RegExp(`[${ANGLE}](?:\\s*[${ANGLE}])+`, 'g');
/** Chat-template role tags and special tokens: <|im_start|>, </s>, [INST], <system>. */
const ROLE_TAG = /<\|[^|<>]{0,40}\|>|<\/?(?:s|system|user|assistant|human|im_start|im_end)>|\[\/?(?:INST|SYS)\]|<<\/?SYS>>/gi;
/** The words of our own markers, whatever stands between them. */
const MARKER_WORDS = /\b(LOG|UNTRUSTED)[\W_]*DATA\b/gi;

/**
 * One line of outside text, safe to put anywhere in a prompt: cut to `max` (after reading at
 * most MAX_VALUE_CHARS), NFKC-normalised (fullwidth ＜ becomes <), invisible characters
 * dropped, line breaks folded to spaces, and every marker look-alike, role tag or run of angle
 * brackets taken out, so no value can close the data section, open one, or start a turn.
 */
export function asData(text: string, max: number): string {
  const head = text.length > MAX_VALUE_CHARS ? text.slice(0, MAX_VALUE_CHARS) : text;
  const flat = head
    .normalize('NFKC')
    .replace(INVISIBLE, '')
    .replace(BREAKS, ' ')
    .replace(ROLE_TAG, ' ')
    .replace(ANGLE_RUN, ' ')
    .replace(MARKER_WORDS, (_m, word: string) => `${word.toLowerCase()} text`)
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/**
 * A suspect's indicator without any log text it quotes. Analysis cites log patterns by
 * finding id (`new log pattern [L1]`); an indicator written before that, or by anything
 * else, loses everything from its first quotation mark on, so a quote inside the quote
 * cannot leave text behind: `new log pattern (quoted in the findings)`.
 */
export function indicatorWithoutLogText(indicator: string): string {
  if (!/\blog\b/i.test(indicator)) return indicator;
  const q = indicator.search(/["\u201c\u201d\u201e\u00ab\u00bb]/);
  return q < 0 ? indicator : `${indicator.slice(0, q).trimEnd()} (quoted in the findings)`;
}
