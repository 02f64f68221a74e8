import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCENARIOS } from '../test/scenarios/catalog';
import { buildScenario } from '../test/scenarios/shop';
import type { ScenarioBundle } from '../test/scenarios/sim';

/**
 * The example incidents `alert-annotator demo` runs: evidence bundles from the shop
 * simulator (test/scenarios/), in the same format `replay` reads and `--save-evidence`
 * writes. Regenerate with `npx tsx examples/generate.ts`; test/demo.test.ts fails when the
 * files differ from what this writes.
 *
 * Each bundle keeps its answer key under `scenario` (the planted cause, null for the
 * no-fault case); the demo prints it beside the note so a reader can judge the note.
 */

export const INCIDENT_DIR = join(__dirname, 'incidents');

/** Catalog scenarios shown by the demo, in order; file name = the catalog id. */
export const EXAMPLES = [
  'deploy-error-burst-orders', // a release throws a new exception two hops below the alert
  'db-pool-exhaustion-orders', // a connection leak empties a pool; traces show where the time goes
  'cpu-saturation-payments', // a service pegs its CPU limit and throttles
  'control-flapping-latency', // nothing is wrong: the threshold sits inside normal noise
] as const;

const RUNBOOKS = 'https://runbooks.example.com/shop';

/**
 * One example: the simulated bundle, with the runbook link a real rule carries, so the card
 * shows it.
 */
export function buildExample(id: (typeof EXAMPLES)[number]): ScenarioBundle {
  const spec = SCENARIOS.find((s) => s.key.id === id);
  if (!spec) throw new Error(`no scenario ${id} in test/scenarios/catalog.ts`);
  const bundle = buildScenario(spec);
  const alerts = bundle.payload.alerts.map((a) => ({
    ...a,
    annotations: {
      ...a.annotations,
      runbook_url: `${RUNBOOKS}/${a.labels.alertname}`,
    },
  }));
  return { ...bundle, payload: { ...bundle.payload, alerts } };
}

function main(): void {
  mkdirSync(INCIDENT_DIR, { recursive: true });
  for (const f of readdirSync(INCIDENT_DIR)) if (f.endsWith('.json')) rmSync(join(INCIDENT_DIR, f));
  for (const id of EXAMPLES) writeFileSync(join(INCIDENT_DIR, `${id}.json`), `${JSON.stringify(buildExample(id))}\n`);
  process.stdout.write(`wrote ${EXAMPLES.length} incidents to ${INCIDENT_DIR}\n`);
}

if (require.main === module) main();
