import { decode } from './decode';
import { ALREADY_MASKED, KEEP_RULES, MASK_RULES, SECRET_KEY, type Family, type Rule } from './rules';
import type { Scrubber } from './types';
import { digitsOf } from './validate';
import { vendorTokens } from './vendor';

/** A part of a hit to replace by a placeholder (a cookie header has several). */
interface Masked {
  start: number;
  end: number;
  /** The value as matched (decoded when the match was made on decoded text): what the placeholder stands for. */
  value: string;
}

/**
 * One accepted match: the span it protects from other matches, and what of it to mask. One
 * flat object per match (most hits mask one span): a dense line makes tens of thousands.
 */
interface Hit {
  start: number;
  end: number;
  /** Lower wins when two hits start at the same index. */
  rank: number;
  /** undefined: a keep rule's hit (protected as it is). */
  family: Family | undefined;
  /** The one span to mask, when `parts` is not set. */
  maskStart: number;
  maskEnd: number;
  value: string;
  parts: Masked[] | undefined;
}

/** The value a placeholder stands for; normalised so spacing variants correlate. */
function canonical(family: Family, value: string): string {
  if (family === 'CARD') return digitsOf(value);
  if (family === 'IBAN') return value.includes(' ') ? value.replace(/ /g, '') : value;
  if (family === 'IP') return value.toLowerCase();
  return value;
}

/** Keep ranks first, then vendor tokens (the preset's exact formats), then the mask rules in their order. */
const VENDOR_RANK = KEEP_RULES.length;
const MASK_RANK = VENDOR_RANK + 1;
/** A hit found only on the decoded text loses a tie to one found on the text itself. */
const DECODED_RANK = 1000;

function collect(rules: readonly Rule[], rankBase: number, text: string, hits: Hit[]): void {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.scan) {
      for (const [start, valueStart, end] of rule.scan(text)) {
        if (end > valueStart)
          hits.push({
            start,
            end,
            rank: rankBase + i,
            family: rule.family,
            maskStart: valueStart,
            maskEnd: end,
            value: text.slice(valueStart, end),
            parts: undefined,
          });
      }
      continue;
    }
    if (rule.maybe && !rule.maybe(text)) continue;
    const re = rule.pattern;
    const family = rule.family;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const match = m[0];
      if (match.length === 0) {
        re.lastIndex++;
        continue;
      }
      const start = m.index;
      if (rule.accept && !rule.accept(match, text, start)) continue;
      const end = start + match.length;
      if (!family) {
        hits.push({ start, end, rank: rankBase + i, family, maskStart: 0, maskEnd: 0, value: '', parts: undefined });
        continue;
      }
      // The value runs from the head's end to the match's end; a quoted one is masked inside its quotes, so a JSON line stays JSON.
      const headEnd = rule.split ? start + m[1]!.length : start;
      let at = headEnd;
      let stop = end;
      const q = text.charCodeAt(at);
      if (stop - at >= 2 && (q === 34 || q === 39) && text.charCodeAt(stop - 1) === q) {
        at++;
        stop--;
      }
      const value = at === start && stop === end ? match : text.slice(at, stop);
      let parts: Masked[] | undefined;
      if (rule.parts) {
        parts = [];
        for (const [a, b] of rule.parts(value, text.slice(start, headEnd)))
          parts.push({ start: at + a, end: at + b, value: value.slice(a, b) });
      }
      hits.push({ start, end, rank: rankBase + i, family, maskStart: at, maskEnd: stop, value, parts });
    }
  }
}

function collectVendor(text: string, hits: Hit[]): void {
  for (const [, start, end] of vendorTokens(text)) {
    if (end > start)
      hits.push({
        start,
        end,
        rank: VENDOR_RANK,
        family: 'TOKEN',
        maskStart: start,
        maskEnd: end,
        value: text.slice(start, end),
        parts: undefined,
      });
  }
}

/** All hits in one text: mask rules first, keep rules only where something is to be masked. */
function findHits(text: string, rankOffset: number, hits: Hit[]): void {
  const before = hits.length;
  collectVendor(text, hits);
  collect(MASK_RULES, MASK_RANK, text, hits);
  if (hits.length === before) return;
  collect(KEEP_RULES, 0, text, hits);
  if (rankOffset) for (let i = before; i < hits.length; i++) hits[i]!.rank += rankOffset;
}

/** Hits found on decoded text, moved onto the original's positions. */
function mapHits(hits: Hit[], from: number, map: Int32Array): void {
  for (let i = from; i < hits.length; i++) {
    const h = hits[i]!;
    h.start = map[h.start]!;
    h.end = map[h.end]!;
    h.maskStart = map[h.maskStart]!;
    h.maskEnd = map[h.maskEnd]!;
    if (h.parts) {
      for (const m of h.parts) {
        m.start = map[m.start]!;
        m.end = map[m.end]!;
      }
    }
  }
}

const byPosition = (a: Hit, b: Hit): number => a.start - b.start || a.rank - b.rank || b.end - a.end;

/** The cheap half of ALREADY_MASKED: every value it accepts is empty or starts with one of these (any case). */
const MASKED_START = new Set('<*[rfhntuxRFHNTUX'.split('').map((c) => c.charCodeAt(0)));

/**
 * A scrubber session: one per job (or per CLI run), so the same value gets the same
 * placeholder everywhere in it (`<EMAIL_1>` twice means the same address). Values are
 * masked, never hashed: a hash of a low-entropy value (a phone number) can be reversed.
 *
 * Each text is matched as it is and, when it holds percent-encoding, \u/\x escapes or HTML
 * character references, once more decoded (src/scrub/decode.ts); the masks of both land on
 * the original text, whose encoding and structure stay.
 */
export function createScrubber(): Scrubber {
  /** Placeholders by family, then by canonical value. */
  const seen = new Map<Family, Map<string, string>>();
  const counters = new Map<Family, number>();
  /**
   * Placeholders by family, then by the value as matched: a repeated value (the same address
   * on every line of a job) is one lookup, without its canonical form or the family map.
   */
  const byRaw: Partial<Record<Family, Map<string, string>>> = {};

  const placeholder = (family: Family, value: string): string => {
    const raw = byRaw[family] ?? (byRaw[family] = new Map());
    const known = raw.get(value);
    if (known !== undefined) return known;
    let byValue = seen.get(family);
    if (!byValue) seen.set(family, (byValue = new Map()));
    const key = canonical(family, value);
    let p = byValue.get(key);
    if (!p) {
      const n = (counters.get(family) ?? 0) + 1;
      counters.set(family, n);
      p = `<${family}_${n}>`;
      byValue.set(key, p);
    }
    raw.set(value, p);
    return p;
  };

  /** Masks a value; empty or already-masked values stay. */
  const mask = (family: Family, value: string): string | undefined =>
    (value.length === 0 || MASKED_START.has(value.charCodeAt(0))) && ALREADY_MASKED.test(value) ? undefined : placeholder(family, value);

  const scrub = (text: string): string => {
    if (text.length < 6) return text;
    const hits: Hit[] = [];
    findHits(text, 0, hits);
    const decoded = decode(text);
    if (decoded) {
      const from = hits.length;
      findHits(decoded.text, DECODED_RANK, hits);
      mapHits(hits, from, decoded.map);
    }
    if (hits.length === 0) return text;
    let sorted = true;
    for (let i = 1; i < hits.length && sorted; i++) sorted = byPosition(hits[i - 1]!, hits[i]!) <= 0;
    if (!sorted) hits.sort(byPosition);
    // The output as slices of the text and placeholders, joined once; `pos` is where the
    // last hit ends (what starts before it is covered), `done` how far the output has come.
    let out = '';
    let masked = false;
    let pos = 0;
    let done = 0;
    const put = (family: Family, start: number, end: number, value: string): void => {
      const p = end > start ? mask(family, value) : undefined;
      if (p === undefined || start < pos) return;
      out += start > done ? text.slice(done, start) + p : p;
      masked = true;
      pos = done = end;
    };
    for (const h of hits) {
      if (h.start < pos) continue;
      if (h.family) {
        if (h.parts) for (const m of h.parts) put(h.family, m.start, m.end, m.value);
        else put(h.family, h.maskStart, h.maskEnd, h.value);
      }
      if (h.end > pos) pos = h.end;
    }
    if (!masked) return text;
    return done < text.length ? out + text.slice(done) : out;
  };

  const scrubAny = (value: unknown, secretKey: boolean): unknown => {
    if (typeof value === 'string') return secretKey ? (mask('SECRET', value) ?? value) : scrub(value);
    if (typeof value === 'number' || typeof value === 'bigint') return secretKey ? placeholder('SECRET', String(value)) : value;
    if (Array.isArray(value)) return value.map((v) => scrubAny(v, secretKey));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[scrub(k)] = scrubAny(v, SECRET_KEY.test(k));
      return out;
    }
    return value;
  };

  return {
    scrub,
    scrubValue: <T>(value: T): T => scrubAny(value, false) as T,
  };
}
