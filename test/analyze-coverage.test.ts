import { analyze } from '../src/analyze';
import type { EvidenceBundle, Series } from '../src/model/evidence';
import { firingPayload } from './helpers/gather';

/**
 * Issue 12 item 10: evidence honest about the time its data covers. Each case is one a review
 * against a real Prometheus and Loki found.
 */

const now = new Date('2026-11-21T02:20:00Z');
const nowS = now.getTime() / 1000;
const ns = (s: number) => `${s}000000000`;

function bundle(startsAgoMin: number, over: Partial<EvidenceBundle>): EvidenceBundle {
  return {
    payload: firingPayload(now, { alertname: 'CheckoutErrorRateHigh', service: 'checkout' }, { minutesAgo: startsAgoMin }),
    now: now.toISOString(),
    series: [],
    logs: [],
    traces: [],
    ...over,
  };
}

/** One point every 15 s from `fromS` to now. */
function series(fromS: number, value: (t: number) => number, extra: Partial<Series> = {}): Series {
  const values: [number, string][] = [];
  for (let t = fromS; t <= nowS; t += 15) values.push([t, String(value(t))]);
  return { query: null, labels: { service: 'checkout' }, values, ...extra };
}

describe('analysis coverage', () => {
  it('divides log counts by the time the logs cover, not by the nominal baseline window', () => {
    // The service (and its logs) started 7.5 minutes before now, 2.5 minutes before the
    // incident window; a steady warning at 4 a minute all along.
    const startsS = nowS - 120;
    const firstS = startsS - 300 - 150;
    const values: [string, string][] = [];
    for (let t = firstS; t < nowS; t += 15) values.push([ns(t), 'level=warn msg="cache warm-up still running"']);
    const a = analyze(
      bundle(2, {
        logs: [{ labels: { service_name: 'checkout' }, values }],
        series: [series(firstS, () => 1, { name: 'request rate', unit: 'req/s' })],
      }),
    );
    const texts = a.findings.map((f) => f.text);
    expect(texts.filter((t) => /its baseline rate/.test(t))).toEqual([]);
    expect(a.findings).toContainEqual(
      expect.objectContaining({ kind: 'coverage', text: expect.stringMatching(/^baseline: 2\.5 min of data/) }),
    );
  });

  it('still reports the alert expression, and says the baseline is missing, when the alert fires in the first minutes of history', () => {
    // History begins 4 minutes before startsAt, after the baseline window ended (5 minutes before).
    const startsS = nowS - 60;
    const expr = series(startsS - 240, (t) => (t >= startsS - 30 ? 0.35 : 0.002), { query: 'error ratio > 0.05', unit: 'ratio' });
    const a = analyze(bundle(1, { series: [expr] }));
    const metric = a.findings.filter((f) => f.kind === 'metric');
    expect(metric).toHaveLength(1);
    expect(metric[0]!.text).toMatch(/^alert expression of checkout 35%/);
    expect(a.findings).toContainEqual(expect.objectContaining({ kind: 'coverage', text: expect.stringMatching(/^baseline: no data/) }));
    expect(a.confidence).toBe('low');
  });

  it('reports the value the alert expression had at startsAt, not the second-largest deviation', () => {
    // rate(...[1m]) jumps: 0.2% for an hour, 5.73% one step before startsAt, 35% at startsAt = now.
    const startsS = nowS;
    const expr = series(startsS - 3600, (t) => (t >= startsS ? 0.35 : t >= startsS - 15 ? 0.0573 : 0.002 + 0.0005 * Math.sin(t)), {
      query: 'sum(rate(demo_checkout_requests_total{code=~"5.."}[1m])) / sum(rate(demo_checkout_requests_total[1m])) > 0.05',
      unit: 'ratio',
    });
    const a = analyze(bundle(0, { series: [expr] }));
    const first = a.findings.find((f) => f.kind === 'metric');
    expect(first?.text).toMatch(/^alert expression of checkout 35% /);
    expect(first?.text).not.toMatch(/5\.73%/);
  });
});
