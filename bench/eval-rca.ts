/**
 * npm run eval:rca — root-cause accuracy on the second incident generator
 * (test/incidents/generate.ts), the product beside a metric-only BARO baseline measured in the
 * same run: AC@1, AC@3, Avg@5 per fault kind and overall, abstention on the no-fault controls,
 * the calibration table (per confidence level, how often the top suspect was right), and how
 * often the top suspect rests on one series alone. Two seed ranges: the one the analysis was
 * tuned on and a held-out one never looked at while tuning. Prints figures; never fails.
 */
import { FAULTS, HELD_OUT_SEEDS, incidents, TUNED_SEEDS } from '../test/incidents/generate';
import { evaluate, figures, rankOf, type Outcome } from '../test/incidents/score';

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
  const misses = faults.filter((o) => rankOf(o) > 1);
  if (misses.length && process.env.EVAL_VERBOSE)
    for (const m of misses)
      console.log(
        `  miss ${m.key.id}: root ${m.key.rootCause}, alert ${m.key.alertService}, got ${m.ranked.slice(0, 3).join(', ')} [${m.key.defects.join('; ')}]`,
      );
  if (process.env.EVAL_VERBOSE)
    for (const c of controls.filter((o) => o.confidence !== 'low'))
      console.log(`  control ${c.key.id} at ${c.confidence}: ${c.ranked.slice(0, 3).join(', ')} [${c.key.defects.join('; ')}]`);
}

report('Tuned seeds', TUNED_SEEDS);
if (!process.env.EVAL_TUNED_ONLY) report('Held-out seeds', HELD_OUT_SEEDS);
