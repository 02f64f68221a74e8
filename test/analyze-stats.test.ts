import { FLAT_Z_CAP, baselineOf, changePoint, robustZ, scoreSeries, trendOf, Z_CAP } from '../src/analyze/stats';

const pts = (values: number[], t0 = 0, step = 60): [number, number][] => values.map((v, i) => [t0 + i * step, v]);
const noisy = (n: number, base: number, amp: number): number[] => Array.from({ length: n }, (_, i) => base + amp * Math.sin(i * 1.7));

describe('the robust score', () => {
  it('measures the distance from the baseline median in inter-quartile ranges', () => {
    const b = baselineOf([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(b.median).toBe(5);
    expect(b.scale).toBe(4);
    expect(robustZ(13, b)).toBe(2);
  });

  it('is not moved by one wild baseline outlier', () => {
    const clean = baselineOf(noisy(55, 10, 1));
    const dirty = baselineOf([...noisy(54, 10, 1), 10_000]);
    expect(Math.abs(dirty.median - clean.median)).toBeLessThan(0.2);
    expect(dirty.scale / clean.scale).toBeLessThan(1.2);
  });

  it('falls back to MAD, then to the deviation, when the IQR is zero', () => {
    const mostlyFlat = baselineOf([0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    expect(mostlyFlat.scale).toBeGreaterThan(0);
    expect(baselineOf([3, 3, 3, 3]).scale).toBe(0);
  });

  it('scores a change from a constant baseline as a relative change, never the maximum (issue 12 item 9)', () => {
    const b = baselineOf([0, 0, 0, 0]);
    expect(robustZ(0, b)).toBe(0);
    expect(robustZ(0.001, b)).toBe(FLAT_Z_CAP);
    expect(FLAT_Z_CAP).toBeLessThan(Z_CAP);
    // 5% above a constant 100 is half a unit of a tenth of the level.
    expect(robustZ(105, baselineOf([100, 100, 100, 100]))).toBeCloseTo(0.48, 2);
  });

  it('measures a latency quantile stuck at a bucket edge in bucket steps', () => {
    const stuck = baselineOf([0.25, 0.25, 0.25, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
    expect(stuck.resolution).toBeCloseTo(0.25);
    // The next bucket edge is one step: a modest score, not z=100.
    expect(robustZ(0.5, stuck)).toBeLessThan(3);
    expect(robustZ(2.5, stuck)).toBeLessThanOrEqual(FLAT_Z_CAP);
  });

  it('scores a bucket-edge quantile at a level its baseline never took as a relative change, not in bucket steps', () => {
    // p99 at the 0.25 s edge, now and then at 0.1 s; then it sits at 0.5 s: twice its level,
    // a bucket the baseline never reached (eval:rca media-slow-code-9 scored it 1.7, under noise).
    const flicker = baselineOf([0.25, 0.25, 0.1, 0.25, 0.25, 0.25, 0.25, 0.25, 0.1, 0.25, 0.25, 0.25, 0.25, 0.25]);
    expect(flicker.resolution).toBeCloseTo(0.15);
    expect(robustZ(0.5, flicker)).toBeGreaterThanOrEqual(3);
    expect(robustZ(0.5, flicker)).toBeLessThanOrEqual(FLAT_Z_CAP);
    // Within the levels it flickered across, still bucket steps: 0.1 is no news.
    expect(robustZ(0.1, flicker)).toBeLessThan(3);
  });

  it('scores a new level the same way when the baseline flickers evenly across two edges (its IQR one bucket step)', () => {
    // p99 between 0.1 s and 0.25 s, then at 0.5 s (eval:rca iot-slow-code-200385 scored it 2.7: the
    // IQR of the flicker, 0.15, is the step between the edges, not a spread around a level).
    const even = baselineOf([0.1, 0.25, 0.1, 0.1, 0.25, 0.1, 0.25, 0.25, 0.1, 0.1, 0.25, 0.1, 0.25, 0.1]);
    expect(even.scale).toBeCloseTo(0.15);
    expect(robustZ(0.5, even)).toBeGreaterThanOrEqual(3);
    expect(robustZ(0.25, even)).toBeLessThan(3);
    // A continuous baseline keeps its own spread as the unit.
    expect(robustZ(0.5, baselineOf([0.1, 0.22, 0.13, 0.18, 0.25, 0.11, 0.2, 0.16, 0.24, 0.12, 0.19, 0.15, 0.21, 0.14]))).toBeLessThan(6);
  });

  it('needs a change to hold over several samples', () => {
    const base = pts(noisy(55, 10, 1));
    const incident = pts([...noisy(10, 10, 1)], 55 * 60);
    incident[3] = [incident[3]![0], 60];
    incident[7] = [incident[7]![0], 60];
    expect(scoreSeries(base, incident)!.z).toBeLessThan(3);
  });

  it('ignores a single spike in the incident window', () => {
    const base = pts(noisy(55, 10, 1));
    const incident = pts([...noisy(10, 10, 1)], 55 * 60);
    incident[4] = [incident[4]![0], 500];
    expect(scoreSeries(base, incident)!.z).toBeLessThan(3);
  });

  it('scores a sustained shift, its direction and when it started', () => {
    const base = pts(noisy(55, 10, 1));
    const incident = pts([10, 10.5, 9.8, 30, 31, 30.5, 29.9, 30.2, 31, 30], 55 * 60);
    const s = scoreSeries(base, incident)!;
    expect(s.z).toBeGreaterThan(5);
    expect(s.direction).toBe('up');
    expect(s.changeAt).toBe(58 * 60);
    expect(s.trend).toBe('flat');
    const drop = scoreSeries(base, pts([10, 1, 1, 1, 1, 1], 55 * 60))!;
    expect(drop.direction).toBe('down');
  });

  it('tells a ramp from a step', () => {
    const b = baselineOf(noisy(55, 10, 1));
    expect(trendOf(pts([10, 14, 18, 22, 26, 30]), b)).toBe('rising');
    expect(trendOf(pts([30, 26, 22, 18, 14, 10]), b)).toBe('falling');
    expect(trendOf(pts([30, 30, 30, 30]), b)).toBe('flat');
  });

  it('says nothing when the baseline is too short', () => {
    expect(scoreSeries(pts([1, 2]), pts([5, 5, 5]))).toBeUndefined();
  });

  it('finds no change point when the shift does not last', () => {
    const b = baselineOf(noisy(55, 10, 1));
    expect(changePoint(pts([10, 40, 10, 10]), b, 'up', 20)).toBeUndefined();
  });
});
