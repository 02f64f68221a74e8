import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildExample, EXAMPLES, INCIDENT_DIR } from '../examples/generate';
import { evidenceBundleSchema } from '../src/model/evidence';
import { annotationRecordSchema, type AnnotationRecord } from '../src/model/record';
import type { ScenarioBundle } from './scenarios/sim';

const execFileP = promisify(execFile);
const ROOT = join(__dirname, '..');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `alert-annotator demo` as a user runs it: the package's bin in its own process, with an
 * environment that configures nothing (no Redis, Loki, Prometheus, Tempo or model address).
 */
async function demo(args: string[] = []): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [join(ROOT, 'bin', 'alert-annotator.js'), 'demo', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '' },
      timeout: 90_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const shipped = readdirSync(INCIDENT_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(INCIDENT_DIR, f), 'utf8')) as ScenarioBundle);

describe('the shipped example incidents', () => {
  it('are what examples/generate.ts writes (the files are not stale), and nothing else', () => {
    expect(readdirSync(INCIDENT_DIR).sort()).toEqual(EXAMPLES.map((id) => `${id}.json`).sort());
    for (const id of EXAMPLES) {
      const onDisk = JSON.parse(readFileSync(join(INCIDENT_DIR, `${id}.json`), 'utf8')) as unknown;
      expect(onDisk).toEqual(JSON.parse(JSON.stringify(buildExample(id))));
    }
  });

  it('are evidence bundles as replay reads them: at least two different causes and a no-fault case', () => {
    for (const b of shipped) expect(evidenceBundleSchema.safeParse(b).success).toBe(true);
    const faults = new Set(shipped.filter((b) => b.scenario.rootCause !== null).map((b) => b.scenario.fault));
    expect(faults.size).toBeGreaterThanOrEqual(2);
    expect(shipped.some((b) => b.scenario.rootCause === null)).toBe(true);
  });
});

describe('alert-annotator demo', () => {
  let text: Run;
  let json: Run;
  beforeAll(async () => {
    [text, json] = await Promise.all([demo(), demo(['--json'])]);
  }, 120_000);

  /** The part of the text output about one incident. */
  const sectionOf = (id: string): string => {
    const part = text.stdout.split('━━ Incident ').find((s) => /^\d+ of \d+: (\S+)/.exec(s)?.[1] === id);
    if (!part) throw new Error(`no section for ${id} in:\n${text.stdout.slice(0, 2000)}`);
    return part;
  };

  it('exits 0 with nothing configured and nothing running, and warns about nothing', () => {
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(json).toMatchObject({ code: 0, stderr: '' });
  });

  it.each(shipped.map((b) => [b.scenario.id, b] as const))('shows the card for %s', (id, bundle) => {
    const section = sectionOf(id);
    const alertname = bundle.payload.alerts[0]!.labels.alertname!;
    expect(section).toMatch(new RegExp(`FIRING · ${alertname}`));
    expect(section).toContain(bundle.payload.alerts[0]!.annotations.runbook_url!);
    const cause = bundle.scenario.rootCause;
    if (cause === null) {
      // The verdict says nothing was found; no service is named as the cause.
      expect(section).toMatch(/Inconclusive · no suspect found|No cause found/);
      expect(section).not.toContain('Most likely');
      expect(section).toContain('the note claims no cause');
    } else {
      expect(section).toContain(`Most likely ${cause} (`);
      expect(section).toContain(`the note's top suspect is ${cause}. ✓`);
    }
  });

  it('cites in each card the evidence ids its record names, with the finding', () => {
    const records = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AnnotationRecord);
    for (const b of shipped) {
      const record = records.find((r) => r.fingerprint === b.payload.alerts[0]!.fingerprint)!;
      const section = sectionOf(b.scenario.id);
      expect(record.evidence?.length).toBeGreaterThan(0);
      for (const id of record.evidence ?? []) {
        const finding = record.findings.find((f) => f.id === id)!;
        expect(section).toContain(`\`${id}\` ${finding.text.slice(0, 40)}`);
      }
    }
  });

  it('--json prints the annotation records, one valid record per alert of every incident', () => {
    const lines = json.stdout.trim().split('\n');
    const records = lines.map((l) => annotationRecordSchema.parse(JSON.parse(l)));
    const alerts = shipped.flatMap((b) => b.payload.alerts);
    expect(records.map((r) => r.fingerprint).sort()).toEqual(alerts.map((a) => a.fingerprint).sort());
    for (const b of shipped) {
      const r = records.find((x) => x.fingerprint === b.payload.alerts[0]!.fingerprint)!;
      expect(r).toMatchObject({ status: 'firing', narrator: 'template', annotatedAt: b.now });
      if (b.scenario.rootCause === null) expect(r.confidence).toBe('low');
      else expect(r.suspects[0]?.service).toBe(b.scenario.rootCause);
    }
  });

  it('runs one named incident or a bundle file, and names the shipped ones for an unknown name', async () => {
    const one = await demo(['db-pool-exhaustion-orders', '--json']);
    expect(one.code).toBe(0);
    expect(one.stdout.trim().split('\n')).toHaveLength(1);
    const file = await demo([join(INCIDENT_DIR, 'deploy-error-burst-orders.json')]);
    expect(file.stdout).toContain('Incident 1 of 1: deploy-error-burst-orders');
    const unknown = await demo(['no-such-incident']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no incident no-such-incident');
    expect(unknown.stderr).toContain('db-pool-exhaustion-orders');
  }, 120_000);
});
