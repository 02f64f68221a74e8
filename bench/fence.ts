/**
 * bench:fence — stripping a Markdown code fence off a model answer: the regex the guard used
 * before issue 11 (`^```(?:json)?\s*([\s\S]*?)\s*```$`, cubic on a fence followed by
 * spaces) against stripFence (string operations), on the issue's inputs: a fence followed
 * by 5,000 and 10,000 spaces, plus a normal fenced answer. The old regex runs in a worker
 * thread that is stopped after OLD_DEADLINE_S (default 120) seconds, so a run ends in
 * minutes; `node --import tsx bench/fence.ts --old-deadline 600` waits longer.
 */
import { Worker } from 'node:worker_threads';
import { stripFence } from '../src/narrate/guard';

const OLD = String.raw`^` + '```' + String.raw`(?:json)?\s*([\s\S]*?)\s*` + '```' + '$';
const arg = process.argv.indexOf('--old-deadline');
const OLD_DEADLINE_S = arg > 0 ? Number(process.argv[arg + 1]) : 120;

const note = JSON.stringify({ summary: 's', rootCause: 'api [M1]', evidence: ['M1'], actions: ['a'], confidence: 'low' });
const inputs: [string, string][] = [
  ['fenced note (560 B)', `\`\`\`json\n${note}\n\`\`\``],
  ['fence + 5,000 spaces + x', `\`\`\`${' '.repeat(5000)}x`],
  ['fence + 10,000 spaces + x', `\`\`\`${' '.repeat(10_000)}x`],
];

/** Old: one run in a worker, stopped at the deadline. Milliseconds, or undefined when stopped. */
function oldMs(input: string): Promise<number | undefined> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const re = new RegExp(workerData.re);
    const t = process.hrtime.bigint();
    workerData.input.trim().replace(re, '$1');
    parentPort.postMessage(Number(process.hrtime.bigint() - t) / 1e6);`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { re: OLD, input } });
    const timer = setTimeout(() => void w.terminate().then(() => resolve(undefined)), OLD_DEADLINE_S * 1000);
    w.once('message', (ms: number) => {
      clearTimeout(timer);
      void w.terminate().then(() => resolve(ms));
    });
    w.once('error', reject);
  });
}

/** New: the median of many runs. */
function newMs(input: string): number {
  const runs: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = process.hrtime.bigint();
    stripFence(input);
    runs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return runs.sort((a, b) => a - b)[100]!;
}

async function main(): Promise<void> {
  console.log(`input                         old regex          stripFence   ratio`);
  for (const [name, input] of inputs) {
    const fresh = newMs(input);
    const old = await oldMs(input);
    const oldText =
      old === undefined ? `> ${OLD_DEADLINE_S} s (stopped)` : old >= 1000 ? `${(old / 1000).toFixed(1)} s` : `${old.toFixed(3)} ms`;
    const ratio = old === undefined ? `> ${Math.round((OLD_DEADLINE_S * 1000) / fresh)}×` : `${Math.round(old / fresh)}×`;
    console.log(`${name.padEnd(30)}${oldText.padEnd(19)}${`${(fresh * 1000).toFixed(1)} µs`.padEnd(13)}${ratio}`);
  }
}

void main();
