/**
 * npm run eval:rca — root-cause accuracy on the second incident generator
 * (test/incidents/generate.ts), the product beside a metric-only BARO baseline measured in the
 * same run: AC@1, AC@3, Avg@5 per fault kind and overall, abstention on the no-fault controls,
 * the calibration table (per confidence level, how often the top suspect was right), and how
 * often the top suspect rests on one series alone. Two seed ranges: the one the analysis was
 * tuned on and a held-out one never looked at while tuning. Prints figures; never fails.
 */
import { analyze } from '../src/analyze';
import { evidenceBundleSchema } from '../src/model/evidence';
import { FAULTS, HELD_OUT_SEEDS, incident, incidents, TUNED_SEEDS } from '../test/incidents/generate';
import { evaluate, figures, rankOf, type Outcome } from '../test/incidents/score';

/**
 * Flags: --verbose (or EVAL_VERBOSE=1) lists the misses and the controls not at low, per
 * fault kind; --tuned-only (EVAL_TUNED_ONLY=1) skips the held-out range; --fault=KIND lists only
 * that kind; --explain=SEED prints one incident's key, suspects and findings and stops;
 * --seeds=FROM:COUNT evaluates another range instead (more incidents to study, never the held-out).
 */
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const a = args.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  return a === undefined ? undefined : (a.split('=')[1] ?? '');
};
const verbose = flag('verbose') !== undefined || !!process.env.EVAL_VERBOSE;
const tunedOnly = flag('tuned-only') !== undefined || !!process.env.EVAL_TUNED_ONLY;
const only = flag('fault');
const explainSeed = flag('explain');

const pct = (x: number) => x.toFixed(2).padStart(5);

function report(title: string, range: { from: number; count: number }): void {
  const t0 = performance.now();
  const bundles = incidents(range);
  const tGen = performance.now() - t0;
  const { product, baro } = evaluate(bundles);
  const controls = product.filter((o) => o.key.rootCause === null);
  const topologies = new Set(bundles.map((b) => b.scenario.topology));
  console.log(
    `\n${title}: seeds ${range.from}..${range.from + range.count - 1}, ${bundles.length} incidents over ${topologies.size} topologies, ${controls.length} no-fault controls (generated in ${(tGen / 1000).toFixed(1)} s)`,
  );
  console.log(`${'fault kind'.padEnd(20)}  n    BARO AC@1  AC@3  Avg@5 | product AC@1  AC@3  Avg@5`);
  const row = (label: string, p: Outcome[], b: Outcome[]) => {
    const fp = figures(p);
    const fb = figures(b);
    console.log(
      `${label.padEnd(20)} ${String(fp.n).padStart(3)}      ${pct(fb.ac1)} ${pct(fb.ac3)} ${pct(fb.avg5)} |      ${pct(fp.ac1)} ${pct(fp.ac3)} ${pct(fp.avg5)}`,
    );
  };
  for (const f of FAULTS)
    row(
      f,
      product.filter((o) => o.key.fault === f),
      baro.filter((o) => o.key.fault === f),
    );
  row('all faults', product, baro);
  const abstained = controls.filter((o) => o.confidence === 'low').length;
  console.log(
    `no-fault controls: product at low confidence ${abstained}/${controls.length}; BARO always names a suspect (0/${controls.length})`,
  );
  console.log('calibration   incidents  top suspect right (faults)  controls');
  for (const level of ['high', 'medium', 'low'] as const) {
    const at = product.filter((o) => o.confidence === level);
    const faults = at.filter((o) => o.key.rootCause !== null);
    const right = faults.filter((o) => rankOf(o) === 1).length;
    console.log(
      `${level.padEnd(12)} ${String(at.length).padStart(10)}  ${faults.length ? `${right}/${faults.length} = ${(right / faults.length).toFixed(2)}` : '-'}`.padEnd(
        52,
      ) + String(at.length - faults.length),
    );
  }
  const faults = product.filter((o) => o.key.rootCause !== null);
  const single = faults.filter((o) => o.singleSeries).length;
  console.log(`top suspect rests on one series alone: ${single}/${faults.length} = ${(single / Math.max(1, faults.length)).toFixed(2)}`);
  if (!verbose) return;
  for (const f of FAULTS) {
    if (only && only !== f) continue;
    for (const m of faults.filter((o) => o.key.fault === f && rankOf(o) > 1))
      console.log(
        `  miss ${m.key.id} (#${rankOf(m) === Infinity ? '-' : rankOf(m)}, ${m.confidence}): root ${m.key.rootCause}, alert ${m.key.alertService}, got ${m.ranked.slice(0, 3).join(', ')} [${m.key.defects.join('; ')}]`,
      );
  }
  if (!only || only === 'no-fault')
    for (const c of controls)
      console.log(
        `  control ${c.key.id} at ${c.confidence}: ${c.ranked.slice(0, 3).join(', ') || 'no suspect'} [${c.key.defects.join('; ')}]`,
      );
}

function explain(seed: number): void {
  const raw = incident(seed);
  const a = analyze(evidenceBundleSchema.parse(raw));
  console.log(JSON.stringify(raw.scenario, null, 1));
  console.log(`confidence ${a.confidence}`);
  for (const s of a.suspects) console.log(`  suspect ${s.service} ${s.score} ${s.indicator} ${JSON.stringify(s.signals)}`);
  for (const f of a.findings) console.log(`  ${f.id} ${f.kind} ${f.service ?? ''} ${f.text}`);
}

const range = flag('seeds');
if (explainSeed !== undefined) explain(Number(explainSeed));
else if (range) {
  const [from, count] = range.split(':').map(Number);
  report('Other seeds', { from: from!, count: count ?? 160 });
} else {
  report('Tuned seeds', TUNED_SEEDS);
  if (!tunedOnly) report('Held-out seeds', HELD_OUT_SEEDS);
}
