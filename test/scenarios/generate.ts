import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCENARIOS } from './catalog';
import { buildScenario } from './shop';

/**
 * Writes the scenario set as evidence bundles: `npx tsx test/scenarios/generate.ts`.
 * Deterministic (seeded), so regenerating without changes gives the same files.
 */
export const BUNDLE_DIR = join(__dirname, 'bundles');

function main(): void {
  mkdirSync(BUNDLE_DIR, { recursive: true });
  for (const f of readdirSync(BUNDLE_DIR)) if (f.endsWith('.json')) rmSync(join(BUNDLE_DIR, f));
  for (const spec of SCENARIOS) {
    const bundle = buildScenario(spec);
    writeFileSync(join(BUNDLE_DIR, `${spec.key.id}.json`), `${JSON.stringify(bundle)}\n`);
  }
  process.stdout.write(`wrote ${SCENARIOS.length} bundles to ${BUNDLE_DIR}\n`);
}

if (require.main === module) main();
