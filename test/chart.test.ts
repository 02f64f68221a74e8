import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { analyze } from '../src/analyze';
import { evidenceBundleSchema, type EvidenceBundle } from '../src/model/evidence';
import { chartOf } from '../src/pipeline';
import { chartFonts, chartSpec, renderChart, suspectSeries, thresholdOf, type ChartPlan } from '../src/publish/chart';
import { pngHeader } from './fakes/slack';

/**
 * The chart for the Slack thread (issue 13 item 3): the spec is tested (what it marks), the PNG
 * only for being a PNG of sane size; replay --chart writes one through the real CLI.
 */

const ROOT = join(__dirname, '..');
const INCIDENTS = join(ROOT, 'examples', 'incidents');
const names = readdirSync(INCIDENTS).filter((f) => f.endsWith('.json'));
const load = (f: string): EvidenceBundle => evidenceBundleSchema.parse(JSON.parse(readFileSync(join(INCIDENTS, f), 'utf8')));

jest.setTimeout(120_000);
const execFileP = promisify(execFile);

function plan(bundle: EvidenceBundle): ChartPlan {
  const p = chartSpec(bundle, analyze(bundle));
  if ('reason' in p) throw new Error(`no chart: ${p.reason}`);
  return p;
}

/** Every layer of every panel of the spec, flattened. */
function layers(p: ChartPlan): { mark: { type: string }; encoding?: Record<string, { datum?: unknown; value?: unknown }> }[][] {
  return (p.spec as unknown as { vconcat: { layer: never[] }[] }).vconcat.map((panel) => panel.layer);
}

describe('thresholdOf: the comparison of an alert expression', () => {
  it.each([
    ['histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 1', { op: '>', value: 1 }],
    ['rate(errors{code=~"5..",path!="/a>b"}[5m]) >= 0.05', { op: '>=', value: 0.05 }],
    ['up == 0', { op: '==', value: 0 }],
    ['x > bool 2.5e3', { op: '>', value: 2500 }],
    ['0.3 < avg(x)', { op: '>', value: 0.3 }],
    ['node_filesystem_avail_bytes / node_filesystem_size_bytes < .1', { op: '<', value: 0.1 }],
  ])('%s', (expr, expected) => expect(thresholdOf(expr)).toEqual(expected));

  it.each(['sum(rate(x[5m]))', 'x > y', 'sum(x > 1)', 'x > 1 and y > 2', 'x > 1 unless on(job) maintenance', 'x > 2 * 3', '1 > 2'])(
    'none in %s',
    (expr) => expect(thresholdOf(expr)).toBeUndefined(),
  );
});

describe('the chart of each shipped incident', () => {
  it.each(names)('%s: a PNG of sane size, the windows, the threshold and startsAt marked', async (name) => {
    const bundle = load(name);
    const analysis = analyze(bundle);
    const r = await renderChart(bundle, analysis);
    if ('reason' in r) throw new Error(r.reason);
    const header = pngHeader(r.png);
    expect(header).toEqual({ width: r.width, height: r.height });
    expect(r.width).toBeGreaterThanOrEqual(700);
    expect(r.width).toBeLessThanOrEqual(1000);
    expect(r.height).toBeGreaterThanOrEqual(300);
    expect(r.height).toBeLessThanOrEqual(1000);

    const p = r.plan;
    const startsAt = Math.min(...bundle.payload.alerts.filter((a) => a.status === 'firing').map((a) => Date.parse(a.startsAt)));
    expect(p.startsAt).toBe(startsAt);
    const query = bundle.series.find((s) => s.query !== null)!.query!;
    const expected = thresholdOf(query);
    expect(expected).toBeDefined(); // every shipped alert compares with a number
    expect(p.thresholds).toEqual([expected]);
    const [alertPanel] = layers(p);
    const rules = alertPanel!.filter((l) => l.mark.type === 'rule');
    expect(rules.map((l) => l.encoding?.y?.datum).filter((d) => d !== undefined)).toEqual([expected!.value]);
    expect(rules.map((l) => l.encoding?.x?.datum).filter((d) => d !== undefined)).toEqual([startsAt]);
    const texts = alertPanel!.filter((l) => l.mark.type === 'text').map((l) => l.encoding?.text?.value);
    expect(texts).toContain(`startsAt ${new Date(startsAt).toISOString().slice(11, 16)} UTC`);
    expect(texts.some((t) => typeof t === 'string' && t.startsWith(`threshold ${expected!.op}`))).toBe(true);
    // The value axis holds every point and the threshold, and goes below zero only when a value does.
    const line = alertPanel!.find((l) => l.mark.type === 'line') as unknown as { encoding: { y: { scale: { domain: [number, number] } } } };
    const [lo, hi] = line.encoding.y.scale.domain;
    const values = bundle.series.filter((s) => s.query !== null).flatMap((s) => s.values.map((v) => Number(v[1])));
    expect(lo).toBeGreaterThanOrEqual(Math.min(0, ...values));
    expect(lo).toBeLessThanOrEqual(Math.min(...values, expected!.value));
    expect(hi).toBeGreaterThan(Math.max(...values, expected!.value));
    // Both windows shaded, from where the baseline starts to where the incident ends.
    expect(p.windows.baselineStart).toBeLessThan(p.windows.incidentStart);
    expect(p.windows.incidentStart).toBeLessThan(startsAt);
    expect(p.windows.end).toBeGreaterThan(startsAt);
    // A second panel exactly when the analysis has a suspect with a series.
    expect(layers(p)).toHaveLength(p.suspect ? 2 : 1);
    if (!p.suspect) expect(p.noSuspect).toBeDefined();
  });

  it("draws the top suspect's anomalous series: the one its finding names", () => {
    const cpu = load('cpu-saturation-payments.json');
    const s = suspectSeries(cpu, analyze(cpu))!;
    expect(s.service).toBe('payments');
    expect(s.what).toBe('cpu usage');
    expect(s.series.map((x) => x.labels.pod)).toEqual(['payments-c7c5a12f0-9443d']);
    // A suspect made by traces: its metric finding names the series.
    const deploy = load('deploy-error-burst-orders.json');
    const d = suspectSeries(deploy, analyze(deploy))!;
    expect(d).toMatchObject({ service: 'orders', what: 'error ratio' });
    expect(d.series.every((x) => x.labels.service === 'orders' && x.name === 'error ratio')).toBe(true);
    expect(plan(deploy).suspect?.title).toBe('Top suspect: orders, error ratio');
  });

  it('gives no chart, with a reason and no throw, when the evidence has no alert series', async () => {
    const bundle = load('cpu-saturation-payments.json');
    const noAlertSeries = { ...bundle, series: bundle.series.filter((s) => s.query === null) };
    const r = await renderChart(noAlertSeries, analyze(noAlertSeries));
    expect(r).toEqual({ reason: expect.stringMatching(/alert's own expression/) });
    const empty = { ...bundle, series: [] };
    expect(await renderChart(empty, analyze(empty))).toEqual({ reason: expect.any(String) });
  });

  it('reads the time axis in UTC whatever the local time zone', async () => {
    // In a process of its own: the time zone is read when a process starts.
    const script = `
      const { readFileSync } = require('node:fs');
      const { analyze } = require('./src/analyze');
      const { evidenceBundleSchema } = require('./src/model/evidence');
      const { chartSpec, specToSvg } = require('./src/publish/chart');
      const b = evidenceBundleSchema.parse(JSON.parse(readFileSync('examples/incidents/cpu-saturation-payments.json', 'utf8')));
      specToSvg(chartSpec(b, analyze(b)).spec).then((svg) => process.stdout.write(svg));`;
    const { stdout: svg } = await execFileP(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), '-e', script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', TZ: 'America/New_York' },
      timeout: 110_000,
      maxBuffer: 20_000_000,
    });
    // 02:20 UTC is 21:20 in New York: the ticks must read the UTC clock.
    const ticks = [...svg.matchAll(/>(\d\d:\d\d)</g)].map((m) => m[1]);
    expect(ticks).toContain('02:20');
    expect(ticks).not.toContain('21:20');
    expect(svg).toContain('times in UTC');
  });

  it('writes no label value the scrubber would hide', async () => {
    const bundle = load('cpu-saturation-payments.json');
    const series = bundle.series.map((s) => (s.query !== null ? { ...s, labels: { ...s.labels, owner: 'jane.doe@example.com' } } : s));
    const r = await chartOf({ ...bundle, series }, analyze(bundle));
    if ('reason' in r) throw new Error(r.reason);
    expect(JSON.stringify(r.plan)).not.toContain('jane.doe@example.com');
    expect(r.plan.alert.series.join(' ')).toMatch(/owner="<EMAIL_1>"/);
  });

  it('loads DejaVu Sans explicitly when the system has it', () => {
    const fonts = chartFonts();
    if (existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')) {
      expect(fonts).toMatchObject({ loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans' });
      expect(fonts.fontFiles).toContain('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf');
    } else expect(fonts.loadSystemFonts).toBe(true);
  });
});

describe('alert-annotator replay --chart', () => {
  it('writes the PNG for a shipped bundle, offline, and still prints the records', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'aa-chart-')), 'out.png');
    const argv = [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'src', 'cli.ts')];
    const { stdout, stderr } = await execFileP(
      process.execPath,
      [...argv, 'replay', join(INCIDENTS, 'cpu-saturation-payments.json'), '--chart', out],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', LLM_PROVIDER: 'none', LOG_LEVEL: 'warn' }, timeout: 110_000 },
    );
    expect(stdout.trim().split('\n').length).toBeGreaterThan(0);
    expect(stderr).toContain(`chart written to ${out}`);
    const header = pngHeader(readFileSync(out));
    expect(header).toEqual({ width: expect.any(Number), height: expect.any(Number) });
  });

  it('fails with the reason when no chart can be made, after printing the records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aa-chart-'));
    const argv = [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'src', 'cli.ts')];
    const payload = join(ROOT, 'test', 'fixtures', 'alertmanager', 'am-webhook-07-firing-group-mixed-3-firing-1-resolved.json');
    const run = execFileP(process.execPath, [...argv, 'replay', payload, '--chart', join(dir, 'out.png')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LLM_PROVIDER: 'none', LOG_LEVEL: 'warn' },
      timeout: 110_000,
    });
    await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/no chart: /) });
    const err = (await run.catch((e: { stdout: string }) => e)) as { stdout: string };
    expect(err.stdout.trim().split('\n').length).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'out.png'))).toBe(false);
  });
});
