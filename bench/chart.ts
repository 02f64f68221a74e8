/**
 * bench:chart — what drawing the Slack thread's chart costs, per shipped incident, next to
 * the analysis of the same bundle measured in the same run (the baseline: the work every
 * alert already pays). Phases: the Vega-Lite spec, Vega's SVG, resvg's PNG. Medians of
 * BENCH_RUNS runs (default 7) after one warm-up; the chart runs after the message is out, so
 * this is worker CPU, not latency of the note.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze } from '../src/analyze';
import { evidenceBundleSchema } from '../src/model/evidence';
import { chartSpec, specToSvg, svgToPng } from '../src/publish/chart';

const DIR = join(__dirname, '..', 'examples', 'incidents');
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time<T>(fn: () => T | Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const out = await fn();
  return [out, performance.now() - t];
}

async function main(): Promise<void> {
  console.log('incident                          analyze ms   spec ms   svg ms   png ms   chart/analyze   png bytes   size');
  for (const file of readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const bundle = evidenceBundleSchema.parse(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
    const t = { analyze: [] as number[], spec: [] as number[], svg: [] as number[], png: [] as number[] };
    let last: { png: Buffer; width: number; height: number } | undefined;
    for (let i = 0; i <= RUNS; i++) {
      const [analysis, ta] = await time(() => analyze(bundle));
      const [plan, ts] = await time(() => chartSpec(bundle, analysis));
      if ('reason' in plan) throw new Error(`${file}: ${plan.reason}`);
      const [svg, tv] = await time(() => specToSvg(plan.spec));
      const [png, tp] = await time(() => svgToPng(svg));
      last = png;
      if (i === 0) continue; // warm-up
      t.analyze.push(ta);
      t.spec.push(ts);
      t.svg.push(tv);
      t.png.push(tp);
    }
    const chart = median(t.spec) + median(t.svg) + median(t.png);
    console.log(
      [
        file.replace(/\.json$/, '').padEnd(32),
        median(t.analyze).toFixed(1).padStart(10),
        median(t.spec).toFixed(1).padStart(9),
        median(t.svg).toFixed(1).padStart(8),
        median(t.png).toFixed(1).padStart(8),
        `${(chart / median(t.analyze)).toFixed(1)}x`.padStart(15),
        String(last!.png.length).padStart(11),
        `${last!.width}x${last!.height}`.padStart(8),
      ].join(' '),
    );
  }
}

void main();
