/**
 * bench:scrub — the scrubber next to the one it replaced (a frozen copy in bench/baseline/scrub),
 * measured in one run on the same inputs:
 *   - recall per class on the labelled corpus (test/fixtures/scrub-corpus.jsonl): planted
 *     secrets that are gone from the output;
 *   - values kept intact (trace ids, UUIDs, SHAs, pods, versions, …) byte for byte;
 *   - throughput on one core (goal: >= 20 MB/s) over realistic log traffic: mostly ordinary
 *     lines with one line in ten from the corpus, next to a regex-free pass over the same text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createScrubber } from '../src/scrub';
import { createScrubber as createBaselineScrubber } from './baseline/scrub/scrubber';

const TARGET_MB = Number(process.env.BENCH_MB ?? 16);

interface Entry {
  family: string;
  line: string;
  secrets: string[];
  keep: string[];
}
const corpus = readFileSync(join(__dirname, '..', 'test', 'fixtures', 'scrub-corpus.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Entry);

const ordinary = [
  (i: number) =>
    `level=info ts=2026-11-21T22:43:${String(i % 60).padStart(2, '0')}.869Z caller=server.go:212 method=GET path=/api/v1/orders/${i} status=200 duration=${i % 900}ms trace_id=4bf92f3577b34da6a3ce929d0e0e${String(4736 + (i % 1000)).padStart(4, '0')}`,
  (i: number) =>
    `{"level":"warn","time":"2026-11-21T22:43:04Z","service":"checkout","pod":"checkout-7d9f8b6c5-x2x9k","msg":"slow query","table":"orders","rows":${i},"elapsed_ms":${i % 5000}}`,
  (i: number) =>
    `2026-11-21 22:43:05,120 ERROR [worker-${i % 8}] upstream payments-api responded 503 after 3 retries (attempt ${i}) host=ip-10-0-1-23.eu-west-1.compute.internal`,
  (i: number) =>
    `10.0.4.${i % 250} - - [21/Nov/2026:22:43:06 +0000] "POST /api/v1/orders HTTP/1.1" 502 ${i % 2000} "-" "Go-http-client/1.1" rt=0.${i % 999}`,
  (i: number) =>
    `msg="GC completed" heap_bytes=${734003200 + i} pause=350µs goroutines=${i % 400} version=2.14.0 span_id=00f067aa0ba9${String(i % 10000).padStart(4, '0')}`,
];

function buildLines(): string[] {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < TARGET_MB * 1024 * 1024; i++) {
    const line = i % 10 === 9 ? corpus[i % corpus.length]!.line : ordinary[i % ordinary.length]!(i);
    lines.push(line);
    size += line.length + 1;
  }
  return lines;
}

interface Tally {
  found: number;
  total: number;
}
/** Recall per class and intact values, one session over the whole corpus (as a job would see it). */
function score(make: () => { scrub(t: string): string }): { recall: Map<string, Tally>; kept: Tally } {
  const s = make();
  const recall = new Map<string, Tally>();
  const kept: Tally = { found: 0, total: 0 };
  for (const e of corpus) {
    const out = s.scrub(e.line);
    for (const secret of e.secrets) {
      const t = recall.get(e.family) ?? { found: 0, total: 0 };
      recall.set(e.family, t);
      t.total++;
      if (!out.includes(secret)) t.found++;
    }
    for (const k of e.keep) {
      kept.total++;
      if (out.includes(k)) kept.found++;
    }
  }
  return { recall, kept };
}

const lines = buildLines();
const mb = Buffer.byteLength(lines.join('\n')) / (1024 * 1024);

function time(fn: () => number): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}
const passOver = (): number => {
  let sum = 0;
  for (const line of lines) for (let i = 0; i < line.length; i++) sum = (sum + line.charCodeAt(i)) | 0;
  return sum;
};
const run = (make: () => { scrub(t: string): string }) => (): number => {
  const s = make();
  let out = 0;
  for (const line of lines) out += s.scrub(line).length;
  return out;
};
const runs: [string, () => number][] = [
  ['regex-free pass over the text', passOver],
  ['old scrubber (bench/baseline)', run(createBaselineScrubber)],
  ['new scrubber (src/scrub)', run(createScrubber)],
];
// Warm up every contender, then take the best of five interleaved runs (other work on the machine adds noise).
for (const [, fn] of runs) fn();
const best = runs.map(() => Infinity);
for (let k = 0; k < 5; k++) runs.forEach(([, fn], i) => (best[i] = Math.min(best[i]!, time(fn))));

const oldScore = score(createBaselineScrubber);
const newScore = score(createScrubber);
const pct = (t: Tally | undefined): string =>
  t && t.total ? `${t.found}/${t.total}`.padStart(7) + ` ${((100 * t.found) / t.total).toFixed(0).padStart(3)}%` : '      -     ';

console.log(
  `bench:scrub  corpus ${corpus.length} lines; throughput text ${mb.toFixed(1)} MB, ${lines.length} lines (1 in 10 from the corpus), one core`,
);
console.log('\n  recall per class (planted secrets removed)   old              new');
for (const family of [...newScore.recall.keys()].sort()) {
  const o = oldScore.recall.get(family);
  const n = newScore.recall.get(family);
  console.log(`  ${family.padEnd(42)} ${pct(o)}     ${pct(n)}`);
}
const total = (m: Map<string, Tally>): Tally =>
  [...m.values()].reduce((a, t) => ({ found: a.found + t.found, total: a.total + t.total }), { found: 0, total: 0 });
console.log(`  ${'all secrets'.padEnd(42)} ${pct(total(oldScore.recall))}     ${pct(total(newScore.recall))}`);
console.log(`  ${'values kept intact'.padEnd(42)} ${pct(oldScore.kept)}     ${pct(newScore.kept)}`);
console.log('\n  throughput                                   ms       MB/s   x pass');
runs.forEach(([name], i) => {
  const ms = best[i]!;
  console.log(
    `  ${name.padEnd(42)} ${ms.toFixed(0).padStart(6)}  ${(mb / (ms / 1000)).toFixed(1).padStart(8)}  ${(ms / best[0]!).toFixed(1).padStart(6)}`,
  );
});
const newMbs = mb / (best[2]! / 1000);
console.log(`\n  goal >= 20 MB/s for the new scrubber: ${newMbs >= 20 ? 'met' : 'NOT met'} (${newMbs.toFixed(1)} MB/s)`);
