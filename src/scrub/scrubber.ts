import { decode } from './decode';
import { ALREADY_MASKED, KEEP_RULES, MASK_RULES, SECRET_KEY, type Family, type Rule } from './rules';
import type { Scrubber } from './types';
import { digitsOf } from './validate';
import { vendorTokens } from './vendor';

/** A part of a hit to replace by a placeholder. */
interface Masked {
  start: number;
  end: number;
  family: Family;
  /** The value as matched (decoded when the match was made on decoded text): what the placeholder stands for. */
  value: string;
}

/** One accepted match: the span it protects from other matches, and the parts of it to mask (none for a keep rule). */
interface Hit {
  start: number;
  end: number;
  /** Lower wins when two hits start at the same index. */
  rank: number;
  masks: Masked[];
}

/** The value a placeholder stands for; normalised so spacing variants correlate. */
function canonical(family: Family, value: string): string {
  if (family === 'CARD') return digitsOf(value);
  if (family === 'IBAN') return value.replace(/ /g, '');
  if (family === 'IP') return value.toLowerCase();
  return value;
}

/** A quoted value is masked inside its quotes, so a JSON line stays JSON. */
function unquote(value: string, start: number): [string, number] {
  const q = value[0];
  if (value.length >= 2 && (q === '"' || q === "'") && value.endsWith(q)) return [value.slice(1, -1), start + 1];
  return [value, start];
}

/** Keep ranks first, then vendor tokens (the preset's exact formats), then the mask rules in their order. */
const VENDOR_RANK = KEEP_RULES.length;
const MASK_RANK = VENDOR_RANK + 1;
/** A hit found only on the decoded text loses a tie to one found on the text itself. */
const DECODED_RANK = 1000;

function collect(rules: readonly Rule[], rankBase: number, text: string, hits: Hit[]): void {
  rules.forEach((rule, i) => {
    if (rule.maybe && !rule.maybe(text)) return;
    const re = rule.pattern;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      if (rule.accept && !rule.accept(m[0], text, m.index)) continue;
      const end = m.index + m[0].length;
      const hit: Hit = { start: m.index, end, rank: rankBase + i, masks: [] };
      hits.push(hit);
      const family = rule.family;
      if (!family) continue;
      const head = rule.split ? (m.groups?.[rule.split[0]] ?? '') : '';
      const raw = rule.split ? (m.groups?.[rule.split[1]] ?? '') : m[0];
      const [value, at] = unquote(raw, m.index + head.length);
      if (rule.parts) {
        for (const [a, b] of rule.parts(value, head)) hit.masks.push({ start: at + a, end: at + b, family, value: value.slice(a, b) });
      } else hit.masks.push({ start: at, end: at + value.length, family, value });
    }
  });
}

function collectVendor(text: string, hits: Hit[]): void {
  for (const [, start, end] of vendorTokens(text)) {
    const value = text.slice(start, end);
    if (end > start) hits.push({ start, end, rank: VENDOR_RANK, masks: [{ start, end, family: 'TOKEN', value }] });
  }
}

/** All hits in one text: mask rules first, keep rules only where something is to be masked. */
function findHits(text: string, rankOffset: number): Hit[] {
  const hits: Hit[] = [];
  collectVendor(text, hits);
  collect(MASK_RULES, MASK_RANK, text, hits);
  if (hits.length === 0) return hits;
  collect(KEEP_RULES, 0, text, hits);
  if (rankOffset) for (const h of hits) h.rank += rankOffset;
  return hits;
}

/** Hits found on decoded text, moved onto the original's positions. */
function mapHits(hits: Hit[], map: Int32Array): Hit[] {
  for (const h of hits) {
    h.start = map[h.start]!;
    h.end = map[h.end]!;
    for (const m of h.masks) {
      m.start = map[m.start]!;
      m.end = map[m.end]!;
    }
  }
  return hits;
}

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
  const seen = new Map<string, string>();
  const counters = new Map<Family, number>();

  const placeholder = (family: Family, value: string): string => {
    const key = `${family}\u0000${canonical(family, value)}`;
    let p = seen.get(key);
    if (!p) {
      const n = (counters.get(family) ?? 0) + 1;
      counters.set(family, n);
      p = `<${family}_${n}>`;
      seen.set(key, p);
    }
    return p;
  };

  /** Masks a value; empty or already-masked values stay. */
  const mask = (family: Family, value: string): string | undefined => (ALREADY_MASKED.test(value) ? undefined : placeholder(family, value));

  const scrub = (text: string): string => {
    if (text.length < 6) return text;
    const hits = findHits(text, 0);
    const decoded = decode(text);
    if (decoded) hits.push(...mapHits(findHits(decoded.text, DECODED_RANK), decoded.map));
    if (!hits.some((h) => h.masks.length > 0)) return text;
    hits.sort((a, b) => a.start - b.start || a.rank - b.rank || b.end - a.end);
    let out = '';
    let pos = 0;
    for (const h of hits) {
      if (h.start < pos) continue;
      for (const m of h.masks) {
        const p = m.end > m.start ? mask(m.family, m.value) : undefined;
        if (p === undefined || m.start < pos) continue;
        out += text.slice(pos, m.start) + p;
        pos = m.end;
      }
      if (h.end > pos) {
        out += text.slice(pos, h.end);
        pos = h.end;
      }
    }
    return out + text.slice(pos);
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
