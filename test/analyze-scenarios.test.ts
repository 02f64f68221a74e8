import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze, STRONG_SUSPECT_SCORE } from '../src/analyze';
import { evidenceBundleSchema } from '../src/model/evidence';
import { SCENARIOS } from './scenarios/catalog';
import { BUNDLE_DIR } from './scenarios/generate';
import { buildScenario } from './scenarios/shop';
import type { ScenarioKey } from './scenarios/sim';

const files = readdirSync(BUNDLE_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

function load(file: string): { key: ScenarioKey; raw: unknown } {
  const raw = JSON.parse(readFileSync(join(BUNDLE_DIR, file), 'utf8')) as { scenario: ScenarioKey };
  return { key: raw.scenario, raw };
}

describe('the scenario set', () => {
  it('holds at least 12 bundles covering every fault type of the issue and no-fault controls', () => {
    expect(files.length).toBeGreaterThanOrEqual(12);
    const faults = new Set(files.map((f) => load(f).key.fault));
    for (const fault of [
      'cpu-saturation',
      'memory-leak',
      'disk-filling',
      'downstream-latency',
      'deploy-error-burst',
      'db-pool-exhaustion',
      'packet-loss',
      'noisy-neighbour',
      'no-fault',
    ]) {
      expect(faults).toContain(fault);
    }
  });

  it('is what generate.ts writes today (the committed bundles are not stale)', () => {
    for (const spec of SCENARIOS) {
      const onDisk = JSON.parse(readFileSync(join(BUNDLE_DIR, `${spec.key.id}.json`), 'utf8')) as unknown;
      expect(onDisk).toEqual(JSON.parse(JSON.stringify(buildScenario(spec))));
    }
  });

  it('is made of valid evidence bundles', () => {
    for (const f of files) expect(evidenceBundleSchema.safeParse(load(f).raw).success).toBe(true);
  });
});

describe.each(files.map((f) => [f.replace(/\.json$/, ''), f] as const))('scenario %s', (_id, file) => {
  const { key, raw } = load(file);
  const analysis = analyze(evidenceBundleSchema.parse(raw));

  if (key.rootCause !== null) {
    const rootCause = key.rootCause;
    it(`names ${rootCause} as the top suspect`, () => {
      expect(analysis.suspects[0]?.service).toBe(rootCause);
    });
    it('is not low confidence', () => {
      expect(analysis.confidence).not.toBe('low');
    });
  } else {
    it('has low confidence and no strong suspect', () => {
      expect(analysis.confidence).toBe('low');
      expect(analysis.suspects[0]?.score ?? 0).toBeLessThan(STRONG_SUSPECT_SCORE);
    });
  }

  it('backs every suspect with a finding about it (a narrator may name only those)', () => {
    for (const s of analysis.suspects) expect(analysis.findings.map((f) => f.service)).toContain(s.service);
  });

  it('writes findings with unique ids, one line each', () => {
    const ids = analysis.findings.map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const f of analysis.findings) expect(f.text).not.toMatch(/\n/);
  });
});
