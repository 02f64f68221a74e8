import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { evidenceBundleSchema } from '../src/model/evidence';
import { annotationRecordSchema } from '../src/model/record';
import { FakeLoki } from './fakes/loki';

const execFileP = promisify(execFile);
const ROOT = join(__dirname, '..');
const FIXTURES = join(__dirname, 'fixtures', 'alertmanager');
const MIXED = join(FIXTURES, 'am-webhook-07-firing-group-mixed-3-firing-1-resolved.json');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from source in its own process, as a user would run the bin. */
async function cli(args: string[], env: Record<string, string> = {}, input?: string, timeoutMs = 60_000): Promise<Run> {
  const argv = [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'src', 'cli.ts'), ...args];
  const child = execFileP(process.execPath, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LLM_PROVIDER: 'none', LOG_LEVEL: 'info', ...env },
    timeout: timeoutMs,
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

// Each test starts the CLI as child processes through tsx; on a loaded 2-core machine one
// start can take tens of seconds, so the ceiling is generous (it bounds a hang, it times nothing).
jest.setTimeout(120_000);

describe('alert-annotator replay', () => {
  it('prints one valid record per alert as JSON lines on stdout, and logs only on stderr', async () => {
    const r = await cli(['replay', MIXED]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    const records = lines.map((l) => annotationRecordSchema.parse(JSON.parse(l)));
    expect(records.map((x) => x.status).sort()).toEqual(['firing', 'firing', 'firing', 'resolved']);
    // Tracing has no exporter here, yet the record names its trace and the logs carry it.
    expect(records[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(r.stderr).toContain(`"trace_id":"${records[0]!.traceId}"`);
  });

  it('saves what it gathered as an evidence bundle, and replays the bundle without querying anything', async () => {
    const loki = await new FakeLoki().start();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'aa-cli-'));
      const bundleFile = join(dir, 'bundle.json');
      const live = await cli(['replay', MIXED, '--save-evidence', bundleFile], { LOKI_URL: loki.url });
      expect(live.code).toBe(0);
      const bundle = evidenceBundleSchema.parse(JSON.parse(readFileSync(bundleFile, 'utf8')));
      expect(bundle.sources?.find((s) => s.source === 'loki')?.status).toBe('ok');
      expect(loki.requests.length).toBeGreaterThan(0);
      // Without --publish nothing was pushed.
      expect(loki.requestsTo('/loki/api/v1/push')).toHaveLength(0);

      const before = loki.requests.length;
      const again = await cli(['replay', bundleFile], { LOKI_URL: loki.url });
      expect(again.code).toBe(0);
      expect(loki.requests.length).toBe(before);
      const records = again.stdout
        .trim()
        .split('\n')
        .map((l) => annotationRecordSchema.parse(JSON.parse(l)));
      expect(records.map((x) => `${x.fingerprint}:${x.status}`).sort()).toEqual(
        bundle.payload.alerts.map((a) => `${a.fingerprint}:${a.status}`).sort(),
      );
    } finally {
      await loki.stop();
    }
  });

  it('exits 2 with a reason for a file that is neither a payload nor a bundle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aa-cli-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ alerts: 'nope' }));
    const r = await cli(['replay', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('neither an Alertmanager webhook payload nor an evidence bundle');
    expect(r.stdout).toBe('');
  });

  it('exits 2 naming every invalid variable before doing anything', async () => {
    const r = await cli(['replay', MIXED], { LLM_PROVIDER: 'cloud', LOKI_URL: 'nope' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('LLM_PROVIDER');
    expect(r.stderr).toContain('LOKI_URL');
  });
});

describe('alert-annotator serve is closed by default', () => {
  // A service that did start would run until the timeout kills it: a code other than 2.
  const serve = (env: Record<string, string>) => cli(['serve'], { PORT: '0', ...env }, undefined, 45_000);

  it('refuses to start without webhook credentials: exit 2 and one line saying what to set', async () => {
    const r = await serve({});
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/WEBHOOK_BEARER_TOKEN or WEBHOOK_BASIC_AUTH.*WEBHOOK_AUTH=none/);
  }, 60_000);

  it('names a misspelt credential with the setting it resembles, and still refuses to start', async () => {
    const r = await serve({ WEBHOOK_BEARER_TOKN: 'a-long-enough-token' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('WEBHOOK_BEARER_TOKN is not a setting; did you mean WEBHOOK_BEARER_TOKEN?');
    expect(r.stderr).not.toContain('a-long-enough-token');
  }, 60_000);

  it('replay warns about a misspelt variable by name and goes on', async () => {
    const r = await cli(['replay', MIXED], { LOKI_ULR: 'http://127.0.0.1:1' });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('LOKI_ULR is not a setting; did you mean LOKI_URL?');
  }, 60_000);
});

describe('alert-annotator scrub', () => {
  it('masks secrets and PII line by line with stable placeholders', async () => {
    const input = 'login bob@example.com token=abcdEFGH1234secret\nretry for bob@example.com trace 4bf92f3577b34da6a3ce929d0e0e4736\n';
    const r = await cli(['scrub'], {}, input);
    expect(r.code).toBe(0);
    const [first, second] = r.stdout.split('\n');
    expect(first).not.toContain('bob@example.com');
    expect(first).not.toContain('abcdEFGH1234secret');
    expect(first).toContain('<EMAIL_1>');
    expect(second).toContain('<EMAIL_1>');
    expect(second).toContain('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('prints usage and exits 2 for an unknown command', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: alert-annotator');
  });
});
