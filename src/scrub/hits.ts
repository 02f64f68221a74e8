import type { Family } from './rules';

/** The families by index: a hit stores its family as a small number. */
export const FAMILIES: readonly Family[] = ['EMAIL', 'PHONE', 'CARD', 'IBAN', 'IP', 'SSN', 'TOKEN', 'SECRET', 'PRIVATE_KEY', 'COOKIE'];
const FAMILY_INDEX = new Map(FAMILIES.map((f, i) => [f, i]));
/** A keep rule's hit: protected as it is, nothing masked. */
export const KEEP = -1;
export const familyIndex = (f: Family | undefined): number => (f === undefined ? KEEP : FAMILY_INDEX.get(f)!);

const grow = (a: Int32Array, n: number): Int32Array<ArrayBuffer> => {
  const b = new Int32Array(Math.max(n, a.length * 2));
  b.set(a);
  return b;
};

/**
 * The matches of one scrub call, in flat typed arrays (one index per hit): a dense line
 * makes tens of thousands of hits, and an object per hit (with its value sliced out) cost
 * more than finding it. A hit's value is sliced only when the hit is emitted.
 *
 * Positions: `start`/`end` (the span the hit protects from later hits) and `maskStart`/
 * `maskEnd` (what is masked) are on the original text; `valueStart`/`valueEnd` are where
 * the value lies in the text it was found in (`decoded` set: the decoded text), so a value
 * found on decoded text is the decoded value. One store for the process, reused by every
 * call (the scrubber is synchronous and does not nest).
 */
export class Hits {
  n = 0;
  start = new Int32Array(256);
  end = new Int32Array(256);
  rank = new Int32Array(256);
  family = new Int32Array(256);
  maskStart = new Int32Array(256);
  maskEnd = new Int32Array(256);
  valueStart = new Int32Array(256);
  valueEnd = new Int32Array(256);
  decoded = new Int32Array(256);
  /** Index of the hit's first part in `parts` (four numbers each: maskStart, maskEnd, valueStart, valueEnd), or -1: the hit masks its one span. */
  partsAt = new Int32Array(256);
  partCount = new Int32Array(256);
  parts = new Int32Array(64);
  partsN = 0;

  reset(): void {
    this.n = 0;
    this.partsN = 0;
  }

  private room(): void {
    const n = this.n + 1;
    if (n <= this.start.length) return;
    this.start = grow(this.start, n);
    this.end = grow(this.end, n);
    this.rank = grow(this.rank, n);
    this.family = grow(this.family, n);
    this.maskStart = grow(this.maskStart, n);
    this.maskEnd = grow(this.maskEnd, n);
    this.valueStart = grow(this.valueStart, n);
    this.valueEnd = grow(this.valueEnd, n);
    this.decoded = grow(this.decoded, n);
    this.partsAt = grow(this.partsAt, n);
    this.partCount = grow(this.partCount, n);
  }

  /** A hit that masks [maskStart, maskEnd) (its value) and protects [start, end). */
  add(start: number, end: number, rank: number, family: number, maskStart: number, maskEnd: number): number {
    this.room();
    const i = this.n++;
    this.start[i] = start;
    this.end[i] = end;
    this.rank[i] = rank;
    this.family[i] = family;
    this.maskStart[i] = maskStart;
    this.maskEnd[i] = maskEnd;
    this.valueStart[i] = maskStart;
    this.valueEnd[i] = maskEnd;
    this.decoded[i] = 0;
    this.partsAt[i] = -1;
    this.partCount[i] = 0;
    return i;
  }

  /** Hit `i` (the last added) masks only parts of its value (none, until `addPart` adds them). */
  withParts(i: number): void {
    this.partsAt[i] = this.partsN;
  }

  /** One more part for hit `i` (the last added). */
  addPart(i: number, start: number, end: number): void {
    this.partCount[i] = this.partCount[i]! + 1;
    const k = 4 * this.partsN++;
    if (k + 4 > this.parts.length) this.parts = grow(this.parts, k + 4);
    this.parts[k] = start;
    this.parts[k + 1] = end;
    this.parts[k + 2] = start;
    this.parts[k + 3] = end;
  }

  /** Hits from `from` on were found on decoded text: their original positions through `map`, their ranks past `rankOffset`. */
  mapFrom(from: number, map: Int32Array, rankOffset: number): void {
    for (let i = from; i < this.n; i++) {
      this.start[i] = map[this.start[i]!]!;
      this.end[i] = map[this.end[i]!]!;
      this.maskStart[i] = map[this.maskStart[i]!]!;
      this.maskEnd[i] = map[this.maskEnd[i]!]!;
      this.rank[i]! += rankOffset;
      this.decoded[i] = 1;
      const at = this.partsAt[i]!;
      if (at >= 0) {
        for (let k = 4 * at; k < 4 * (at + this.partCount[i]!); k += 4) {
          this.parts[k] = map[this.parts[k]!]!;
          this.parts[k + 1] = map[this.parts[k + 1]!]!;
        }
      }
    }
  }

  /** Hit a before hit b: leftmost first, then lower rank, then longer. */
  before(a: number, b: number): number {
    return this.start[a]! - this.start[b]! || this.rank[a]! - this.rank[b]! || this.end[b]! - this.end[a]!;
  }

  /** The hits' indices in resolution order (a stable sort, as the hits were added), or undefined when they already are in order. */
  order(): Int32Array | undefined {
    let sorted = true;
    for (let i = 1; i < this.n && sorted; i++) sorted = this.before(i - 1, i) <= 0;
    if (sorted) return undefined;
    // A typed array: a plain one pushed to tens of thousands of numbers is slow to grow.
    const idx = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) idx[i] = i;
    return idx.sort((a, b) => this.before(a, b) || a - b);
  }
}
