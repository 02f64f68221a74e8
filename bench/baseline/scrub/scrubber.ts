import { ALREADY_MASKED, KEEP_RULES, MASK_RULES, SECRET_KEY, type Family, type Rule } from './rules';
import type { Scrubber } from '../../../src/scrub/types';
import { digitsOf } from '../../../src/scrub/validate';

/** One accepted match: keep hits have no family and are copied as they are. */
interface Hit {
  start: number;
  end: number;
  /** Lower wins when two hits start at the same index. */
  rank: number;
  family?: Family;
  head: string;
  value: string;
}

/** The value a placeholder stands for; normalised so spacing variants correlate. */
function canonical(family: Family, value: string): string {
  if (family === 'CARD') return digitsOf(value);
  if (family === 'IBAN') return value.replace(/ /g, '');
  if (family === 'IP') return value.toLowerCase();
  return value;
}

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
      const head = rule.split ? (m.groups?.[rule.split[0]] ?? '') : '';
      const value = rule.split ? (m.groups?.[rule.split[1]] ?? '') : m[0];
      hits.push({ start: m.index, end: m.index + m[0].length, rank: rankBase + i, family: rule.family, head, value });
    }
  });
}

/**
 * A scrubber session: one per job (or per CLI run), so the same value gets the same
 * placeholder everywhere in it (`<EMAIL_1>` twice means the same address). Values are
 * masked, never hashed: a hash of a low-entropy value (a phone number) can be reversed.
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

  /** Masks a value, keeping the quotes of a quoted one; empty or already-masked values stay. */
  const mask = (family: Family, raw: string): string => {
    const quote = raw.length >= 2 && (raw[0] === '"' || raw[0] === "'") && raw.endsWith(raw[0]) ? raw[0] : '';
    const inner = quote ? raw.slice(1, -1) : raw;
    if (ALREADY_MASKED.test(inner)) return raw;
    return `${quote}${placeholder(family, inner)}${quote}`;
  };

  const scrub = (text: string): string => {
    if (text.length < 6) return text;
    const hits: Hit[] = [];
    collect(MASK_RULES, KEEP_RULES.length, text, hits);
    if (hits.length === 0) return text;
    collect(KEEP_RULES, 0, text, hits);
    hits.sort((a, b) => a.start - b.start || a.rank - b.rank);
    let out = '';
    let pos = 0;
    for (const h of hits) {
      if (h.start < pos) continue;
      out += text.slice(pos, h.start);
      out += h.family ? `${h.head}${mask(h.family, h.value)}` : text.slice(h.start, h.end);
      pos = h.end;
    }
    return out + text.slice(pos);
  };

  const scrubAny = (value: unknown, secretKey: boolean): unknown => {
    if (typeof value === 'string') return secretKey ? mask('SECRET', value) : scrub(value);
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
