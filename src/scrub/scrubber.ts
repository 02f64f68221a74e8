import { decode } from './decode';
import { ALREADY_MASKED as MASKED, KEEP_RULES, MASK_RULES, SECRET_KEY, type Family, type Rule } from './rules';
import type { Scrubber } from './types';
import { FAMILIES as FAMILY_LIST, Hits, KEEP as KEEP_FAMILY, familyIndex } from './hits';
import { digitsOf } from './validate';
import { vendorTokens } from './vendor';

/** The value a placeholder stands for; normalised so spacing variants correlate. */
function canonical(family: Family, value: string): string {
  if (family === 'CARD') return digitsOf(value);
  if (family === 'IBAN') return value.includes(' ') ? value.replace(/ /g, '') : value;
  if (family === 'IP') return value.toLowerCase();
  return value;
}

// Module-local copies: an imported binding is a property read on every use (a getter under tsx).
const KEEP = KEEP_FAMILY;
const FAMILIES = FAMILY_LIST;
const ALREADY_MASKED = MASKED;
/** Each rule's family as a number, by rule. */
const familyOf = new Map<Rule, number>();
const ruleFamily = (rule: Rule): number => {
  let f = familyOf.get(rule);
  if (f === undefined) familyOf.set(rule, (f = familyIndex(rule.family)));
  return f;
};
const TOKEN = familyIndex('TOKEN');

/** Keep ranks first, then vendor tokens (the preset's exact formats), then the mask rules in their order. */
const VENDOR_RANK = KEEP_RULES.length;
const MASK_RANK = VENDOR_RANK + 1;
/** A hit found only on the decoded text loses a tie to one found on the text itself. */
const DECODED_RANK = 1000;

function collect(rules: readonly Rule[], rankBase: number, text: string, hits: Hits): void {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    // A hit that starts where a hit of a rule before it starts is dead: that one sorts
    // first, and whether taken or covered it covers this one's start. Two rules that match
    // the same values (a query token is also a key=value pair) would make two hits per value
    // and a sort; the last rule's hits, in order, are checked as this rule's arrive.
    let prev = runStart;
    const prevEnd = (runStart = hits.n);
    const rank = rankBase + i;
    const family = ruleFamily(rule);
    if (rule.maybe && !rule.maybe(text)) continue;
    if (rule.scan && text.length >= (rule.scanFrom ?? 0)) {
      const found = rule.scan(text);
      const at = found.at;
      for (let k = 0; k < found.n; k += 4) {
        const start = at[k]!;
        while (prev < prevEnd && hits.start[prev]! < start) prev++;
        if (prev < prevEnd && hits.start[prev] === start) continue;
        if (family === KEEP) hits.add(start, at[k + 3]!, rank, KEEP, 0, 0);
        else hits.add(start, at[k + 3]!, rank, family, at[k + 1]!, at[k + 2]!);
      }
      continue;
    }
    if (rule.maybe && !rule.maybe(text)) continue;
    const re = rule.pattern;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const match = m[0];
      if (match.length === 0) {
        re.lastIndex++;
        continue;
      }
      const start = m.index;
      while (prev < prevEnd && hits.start[prev]! < start) prev++;
      if (prev < prevEnd && hits.start[prev] === start) continue;
      if (rule.accept && !rule.accept(match, text, start)) continue;
      const end = start + match.length;
      if (family === KEEP) {
        hits.add(start, end, rank, KEEP, 0, 0);
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
      const h = hits.add(start, end, rank, family, at, stop);
      if (rule.parts) {
        const value = text.slice(at, stop);
        hits.withParts(h);
        for (const [a, b] of rule.parts(value, text.slice(start, headEnd))) hits.addPart(h, at + a, at + b);
      }
    }
  }
}

/** Where the last rule's hits begin (see collect). */
let runStart = 0;

function collectVendor(text: string, hits: Hits): void {
  runStart = hits.n;
  for (const [, start, end] of vendorTokens(text)) if (end > start) hits.add(start, end, VENDOR_RANK, TOKEN, start, end);
}

/** All hits in one text: mask rules first, keep rules only where something is to be masked. */
function findHits(text: string, hits: Hits): void {
  const before = hits.n;
  collectVendor(text, hits);
  collect(MASK_RULES, MASK_RANK, text, hits);
  if (hits.n === before) return;
  // The keep rules rank first: a mask hit does not shadow them.
  runStart = hits.n;
  collect(KEEP_RULES, 0, text, hits);
}

/** The store of every call's hits (see Hits). */
const hits = new Hits();

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
   * Placeholders by family (its index in FAMILIES), then by the value as matched: a repeated
   * value (the same address on every line of a job) is one lookup, without its canonical form.
   */
  const byRaw: Map<string, string>[] = FAMILIES.map(() => new Map());

  const placeholder = (family: number, value: string): string => {
    const raw = byRaw[family]!;
    const known = raw.get(value);
    if (known !== undefined) return known;
    const f = FAMILIES[family]!;
    let byValue = seen.get(f);
    if (!byValue) seen.set(f, (byValue = new Map()));
    const key = canonical(f, value);
    let p = byValue.get(key);
    if (!p) {
      const n = (counters.get(f) ?? 0) + 1;
      counters.set(f, n);
      p = `<${f}_${n}>`;
      byValue.set(key, p);
    }
    raw.set(value, p);
    return p;
  };

  /** Masks a value; empty or already-masked values stay. */
  const mask = (family: number, value: string): string | undefined =>
    (value.length === 0 || MASKED_START.has(value.charCodeAt(0))) && ALREADY_MASKED.test(value) ? undefined : placeholder(family, value);
  const SECRET = familyIndex('SECRET');

  const scrub = (text: string): string => {
    if (text.length < 6) return text;
    hits.reset();
    findHits(text, hits);
    const decoded = decode(text);
    if (decoded) {
      const from = hits.n;
      findHits(decoded.text, hits);
      hits.mapFrom(from, decoded.map, DECODED_RANK);
    }
    const n = hits.n;
    if (n === 0) return text;
    const order = hits.order();
    const { start: hStart, end: hEnd, family: hFamily } = hits;
    // The output as slices of the text and placeholders, joined once; `pos` is where the
    // last hit ends (what starts before it is covered), `done` how far the output has come.
    let out = '';
    let masked = false;
    let pos = 0;
    let done = 0;
    // The last value masked and what it became: a dense line repeats one value (the same
    // address, the same card), which is then compared in place, not sliced and looked up.
    let lastFamily = -1;
    let lastValue = '';
    let lastP: string | undefined;
    const put = (family: number, start: number, end: number, valueStart: number, valueEnd: number, source: string): void => {
      if (end <= start || start < pos) return;
      let p: string | undefined;
      if (family === lastFamily && valueEnd - valueStart === lastValue.length && source.startsWith(lastValue, valueStart)) p = lastP;
      else {
        lastValue = source.slice(valueStart, valueEnd);
        lastFamily = family;
        p = lastP = mask(family, lastValue);
      }
      if (p === undefined) return;
      out += start > done ? text.slice(done, start) + p : p;
      masked = true;
      pos = done = end;
    };
    for (let k = 0; k < n; k++) {
      const i = order ? order[k]! : k;
      const start = hStart[i]!;
      if (start < pos) continue;
      const family = hFamily[i]!;
      if (family !== KEEP) {
        const source = hits.decoded[i] ? decoded!.text : text;
        const at = hits.partsAt[i]!;
        if (at >= 0) {
          const parts = hits.parts;
          for (let q = 4 * at; q < 4 * (at + hits.partCount[i]!); q += 4)
            put(family, parts[q]!, parts[q + 1]!, parts[q + 2]!, parts[q + 3]!, source);
        } else put(family, hits.maskStart[i]!, hits.maskEnd[i]!, hits.valueStart[i]!, hits.valueEnd[i]!, source);
      }
      const end = hEnd[i]!;
      if (end > pos) pos = end;
    }
    if (!masked) return text;
    return done < text.length ? out + text.slice(done) : out;
  };

  const scrubAny = (value: unknown, secretKey: boolean): unknown => {
    if (typeof value === 'string') return secretKey ? (mask(SECRET, value) ?? value) : scrub(value);
    if (typeof value === 'number' || typeof value === 'bigint') return secretKey ? placeholder(SECRET, String(value)) : value;
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
