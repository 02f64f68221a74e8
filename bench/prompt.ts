/**
 * bench:prompt — prompt size per scenario bundle next to a naive dump of the raw evidence
 * (the payload, series, log lines and traces serialised as JSON: what a "give the model
 * everything" design would send). Goals: prompt <= 6,000 chars, >= 10x smaller than the dump.
 * Bundles: test/scenarios/bundles/*.json; without them, one bundle built from the recorded
 * Alertmanager/Loki/Tempo answers in test/fixtures.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { analyze } from '../src/analyze';
import { evidenceBundleSchema, type EvidenceBundle } from '../src/model/evidence';
import { buildPrompt, loadPromptTemplate } from '../src/narrate/prompt';
import type { NarrationInput } from '../src/model/narration';
import { scrubInput } from '../src/pipeline';

const BUNDLES = join(__dirname, '..', 'test', 'scenarios', 'bundles');
const FIXTURES = join(__dirname, '..', 'test', 'fixtures');

function fixtureBundle(): [string, EvidenceBundle] {
  const read = (p: string) => JSON.parse(readFileSync(join(FIXTURES, p), 'utf8')) as Record<string, unknown>;
  const payload = (read('alertmanager/am-webhook-04-firing-group-4-alerts-HighErrorRate.json') as { body: unknown }).body;
  const loki = read('loki/loki-2.8.0-query_range-response.json') as {
    data: { result: { stream: Record<string, string>; values: [string, string][] }[] };
  };
  const trace = read('tempo/tempo-2.0.1-api-traces-response.json');
  const bundle = evidenceBundleSchema.parse({
    payload,
    now: '2026-11-21T23:00:00Z',
    series: [],
    logs: loki.data.result.map((r) => ({ labels: r.stream, values: r.values })),
    traces: [trace],
  });
  return ['test-fixtures', bundle];
}

function loadBundles(): [string, EvidenceBundle][] {
  if (!existsSync(BUNDLES)) return [fixtureBundle()];
  const files = readdirSync(BUNDLES)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) return [fixtureBundle()];
  return files.map((f) => [basename(f, '.json'), evidenceBundleSchema.parse(JSON.parse(readFileSync(join(BUNDLES, f), 'utf8')))]);
}

/** What the pipeline hands the narrator: scrubbed alert context and the analysis. */
function narrationInput(bundle: EvidenceBundle): NarrationInput {
  const p = bundle.payload;
  return scrubInput(
    p,
    p.alerts.filter((a) => a.status === 'firing'),
    analyze(bundle),
  );
}

const template = loadPromptTemplate('narrate-v1');
const rows: { name: string; prompt: number; dump: number; findings: number }[] = [];
for (const [name, bundle] of loadBundles()) {
  const input = narrationInput(bundle);
  const p = buildPrompt(input, template);
  const dump = JSON.stringify({ payload: bundle.payload, series: bundle.series, logs: bundle.logs, traces: bundle.traces }).length;
  rows.push({ name, prompt: p.system.length + p.user.length, dump, findings: input.analysis.findings.length });
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`bench:prompt  prompt narrate-v1 (system + user) vs naive raw-evidence JSON dump`);
console.log(`${'scenario'.padEnd(44)} ${pad('findings', 8)} ${pad('prompt', 8)} ${pad('dump', 10)} ${pad('smaller', 8)}`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(44)} ${pad(r.findings, 8)} ${pad(r.prompt, 8)} ${pad(r.dump, 10)} ${pad(`${(r.dump / r.prompt).toFixed(0)}x`, 8)}`,
  );
}
const maxPrompt = Math.max(...rows.map((r) => r.prompt));
const minRatio = Math.min(...rows.map((r) => r.dump / r.prompt));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `max prompt ${maxPrompt} chars (goal <= 6000: ${maxPrompt <= 6000 ? 'met' : 'NOT met'}); median prompt ${median(rows.map((r) => r.prompt))}`,
);
console.log(
  `smallest reduction ${minRatio.toFixed(1)}x (goal >= 10x: ${minRatio >= 10 ? 'met' : 'NOT met'}); median ${median(rows.map((r) => r.dump / r.prompt)).toFixed(0)}x`,
);
