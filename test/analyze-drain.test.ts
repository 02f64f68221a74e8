import { DrainMiner, MAX_LOG_LINE_CHARS, maskLine, templateText } from '../src/analyze/drain';
import { minePatterns } from '../src/analyze/logs';
import type { LogStream } from '../src/model/evidence';

describe('masking before tokenising', () => {
  it.each([
    ['connect to 10.1.2.3:5432 failed', 'connect to <IP> failed'],
    ['mail to ann.lee+x@example.co.uk bounced', 'mail to <EMAIL> bounced'],
    ['order 3f2b9c1e-7d4a-4c1b-9e2f-0a1b2c3d4e5f failed', 'order <UUID> failed'],
    ['trace_id=4bf92f3577b34da6a3ce929d0e0e4736 done', 'trace_id=<HEX> done'],
    ['took 45ms at 2026-11-21T02:14:07.123Z', 'took <NUM>ms at <TS>'],
    ['GET https://api.example.com/v1/items?id=7 -> 502', 'GET <URL> -> <NUM>'],
    ['pod checkout-7d9f8b6c4-x2v9k OOMKilled', 'pod <POD> OOMKilled'],
    ['http-nio-8080-exec-12 uses key v7', 'http-nio-<NUM>-exec-<NUM> uses key v7'],
  ])('%s -> %s', (line, masked) => {
    expect(maskLine(line)).toBe(masked);
  });
});

describe('the Drain miner', () => {
  it('groups lines that differ only in variables into one template', () => {
    const m = new DrainMiner();
    const a = m.add('user alice logged in from 10.0.0.1');
    const b = m.add('user bob logged in from 10.0.0.2');
    expect(b.id).toBe(a.id);
    expect(templateText(b)).toBe('user <*> logged in from <IP>');
    expect(b.count).toBe(2);
  });

  it('keeps lines with different words apart', () => {
    const m = new DrainMiner();
    const a = m.add('ERROR disk full on /var');
    const b = m.add('ERROR connection reset by peer');
    expect(b.id).not.toBe(a.id);
  });

  it('keeps lines of different lengths apart', () => {
    const m = new DrainMiner();
    expect(m.add('job done').id).not.toBe(m.add('job done twice').id);
  });

  it('puts a like line in the same template and starts a new one for an unlike line', () => {
    const m = new DrainMiner();
    const first = m.add('cache miss for key 1');
    const like = m.add('cache miss for key 2');
    expect(like.id).toBe(first.id);
    expect(like.count).toBe(2);
    const unlike = m.add('something else entirely here now');
    expect(unlike.id).not.toBe(first.id);
    expect(unlike.count).toBe(1);
    expect(m.clusters()).toHaveLength(2);
  });

  it('puts lines beyond its template budget in one overflow template', () => {
    const m = new DrainMiner({ maxClusters: 2 });
    m.add('alpha one');
    m.add('beta two three');
    const c = m.add('gamma four five six');
    expect(templateText(c)).toBe('<other>');
  });
});

describe('log patterns over the two windows', () => {
  const ns = (s: number): string => `${s}000000000`;
  const inc = 10_000;
  const end = inc + 600;
  const stream = (service: string, entries: [number, string][]): LogStream => ({
    labels: { service_name: service },
    values: entries.map(([t, l]) => [ns(t), l]),
  });

  it('marks a pattern first seen in the incident window as new, with its count and first time', () => {
    const lines: [number, string][] = [];
    for (let t = inc - 3000; t < inc; t += 100) lines.push([t, `WARN slow request took ${t % 97}ms`]);
    for (let t = inc + 60; t < end; t += 10) lines.push([t, `ERROR NullPointerException at OrderMapper.java:${t % 3}`]);
    const p = minePatterns([stream('orders', lines)], inc, end, inc - 3300, ['service_name']);
    expect(p[0]).toMatchObject({ service: 'orders', isNew: true, baselineCount: 0, firstSeen: inc + 60 });
    expect(p[0]!.incidentCount).toBe(54);
    expect(p[0]!.strength).toBeGreaterThan(0);
    const slow = p.find((x) => x.template.startsWith('WARN'));
    expect(slow?.strength ?? 0).toBe(0);
  });

  it('does not call a handful of lines evidence', () => {
    const lines: [number, string][] = [
      [inc + 10, 'ERROR rare thing'],
      [inc + 20, 'ERROR rare thing'],
    ];
    expect(minePatterns([stream('a', lines)], inc, end, inc - 3300, ['service_name'])[0]!.strength).toBe(0);
  });

  it('sees a pattern that surges above its baseline rate', () => {
    const lines: [number, string][] = [];
    for (let t = inc - 3300; t < inc; t += 300) lines.push([t, 'ERROR timeout calling payments']);
    for (let t = inc; t < end; t += 10) lines.push([t, 'ERROR timeout calling payments']);
    const [p] = minePatterns([stream('checkout', lines)], inc, end, inc - 3300, ['service_name']);
    expect(p).toMatchObject({ isNew: false, baselineCount: 11, incidentCount: 60 });
    expect(p!.ratio).toBeGreaterThan(20);
  });
});

/**
 * Issue 11, finding 2: a mask that may start anywhere inside a long run re-scans the run
 * from every position (quadratic; a 100 KB line took 10-14 s). Each line below is built to
 * make one mask's start positions pile up; with masks that can only start where a run
 * starts, each takes milliseconds. The bound is a guard against the quadratic case, not a
 * speed target (bench:adversarial measures that).
 */
describe('masking time on hostile lines', () => {
  const KB100 = 100 * 1024;
  const fill = (unit: string, head = ''): string => head + unit.repeat(Math.ceil((KB100 - head.length) / unit.length));
  it.each([
    ['email: a local-part run with no domain', fill('a', '@ ')],
    ['email: dotted run after an @', fill('a.', 'x@')],
    ['pod: dash-separated lower-case words', fill('a-')],
    ['pod: words that almost look like replica set hashes', fill('ab-abcde-', 'x ')],
    ['url: a scheme-like run with no ://', fill('a.', ':// ')],
    ['hex: one long hex run without a digit', fill('ab')],
    ['ipv6: colon-separated hex groups', fill('a:')],
    ['numbers: dotted digits', fill('1.')],
  ])('%s (100 KB) is masked in well under 2 s', (_name, line) => {
    const start = process.hrtime.bigint();
    maskLine(line);
    expect(Number(process.hrtime.bigint() - start) / 1e9).toBeLessThan(2);
  });

  it('a miner keeps only the first MAX_LOG_LINE_CHARS characters of a line', () => {
    const m = new DrainMiner();
    const c = m.add(`head ${'word '.repeat(MAX_LOG_LINE_CHARS)}`);
    expect(c.tokens.length).toBeLessThanOrEqual(MAX_LOG_LINE_CHARS / 5 + 1);
    expect(c.tokens[0]).toBe('head');
  });
});
