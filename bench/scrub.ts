/**
 * bench:scrub — scrubber throughput on one core (goal: >= 20 MB/s), next to a baseline
 * measured in the same run: a regex-free pass that touches every character of the same text.
 * The text is realistic log traffic: mostly ordinary lines (timestamps, trace ids,
 * durations, pod names) with one line in ten from the labelled corpus (PII and secrets).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createScrubber } from '../src/scrub';

const TARGET_MB = Number(process.env.BENCH_MB ?? 16);

const corpusLines = readFileSync(join(__dirname, '..', 'test', 'fixtures', 'scrub-corpus.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => (JSON.parse(l) as { line: string }).line);

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

function buildText(): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < TARGET_MB * 1024 * 1024; i++) {
    const line = i % 10 === 9 ? corpusLines[i % corpusLines.length]! : ordinary[i % ordinary.length]!(i);
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n');
}

function time(fn: () => number): { ms: number; result: number } {
  const start = process.hrtime.bigint();
  const result = fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, result };
}

const text = buildText();
const lines = text.split('\n');
const mb = Buffer.byteLength(text) / (1024 * 1024);

const baseline = (): number => {
  let sum = 0;
  for (const line of lines) for (let i = 0; i < line.length; i++) sum = (sum + line.charCodeAt(i)) | 0;
  return sum;
};
const scrub = (): number => {
  const s = createScrubber();
  let out = 0;
  for (const line of lines) out += s.scrub(line).length;
  return out;
};

// Warm up both, so the JIT has compiled them, then take the best of five runs (other work on the machine adds noise).
baseline();
scrub();
const best = (fn: () => number): number => Math.min(...[0, 1, 2, 3, 4].map(() => time(fn).ms));
const baseMs = best(baseline);
const scrubMs = best(scrub);
const changed = lines.filter((l, i) => i % 10 === 9 && createScrubber().scrub(l) !== l).length;

console.log(`bench:scrub  text ${mb.toFixed(1)} MB, ${lines.length} lines (1 in 10 from the labelled corpus), one core`);
console.log(
  `  baseline (regex-free char pass)  ${baseMs.toFixed(0).padStart(6)} ms  ${(mb / (baseMs / 1000)).toFixed(1).padStart(7)} MB/s`,
);
console.log(
  `  scrubber (one session)           ${scrubMs.toFixed(0).padStart(6)} ms  ${(mb / (scrubMs / 1000)).toFixed(1).padStart(7)} MB/s`,
);
console.log(
  `  scrubber / baseline time ratio   ${(scrubMs / baseMs).toFixed(1)}x;  goal >= 20 MB/s: ${mb / (scrubMs / 1000) >= 20 ? 'met' : 'NOT met'}`,
);
console.log(`  corpus lines changed by the scrubber: ${changed}`);
