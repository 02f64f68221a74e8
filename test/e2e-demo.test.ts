import { join } from 'node:path';
import { sampleSum } from './e2e/peers';
import { REPO_ROOT, start, stopAll, until, waitHttpOk, type Started } from './e2e/process';
import { FakeLoki } from './fakes/loki';
import { FakeOtlpReceiver } from './fakes/otlp';
import { freePort } from './helpers/service';

/**
 * The compose stack's demo target (deploy/demo/server.js): it must flip on request and on
 * its schedule, and what it sends must be accepted by Loki's push API and OTLP/HTTP as the
 * fakes (which follow the real APIs) check them.
 */

async function startDemo(env: Record<string, string>): Promise<{ proc: Started; url: string }> {
  const port = await freePort();
  const proc = start(process.execPath, [join(REPO_ROOT, 'deploy/demo/server.js')], {
    env: { PORT: String(port), HOST: '127.0.0.1', ...env },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttpOk(`${url}/-/healthy`, proc, 10_000);
  return { proc, url };
}

const metric = async (url: string, name: string) => sampleSum(await (await fetch(`${url}/metrics`)).text(), name, { service: 'checkout' });

describe('the demo target', () => {
  let loki: FakeLoki;
  let otlp: FakeOtlpReceiver;

  beforeAll(async () => {
    loki = await new FakeLoki().start();
    otlp = await new FakeOtlpReceiver().start();
  });

  afterAll(async () => {
    await stopAll();
    await Promise.all([loki.stop(), otlp.stop()]);
  });

  it('misbehaves on request and recovers, as its metrics show', async () => {
    const { url, proc } = await startDemo({});
    expect(await metric(url, 'demo_checkout_error_ratio')).toBeLessThan(0.05);
    expect((await fetch(`${url}/misbehave?mode=nonsense`, { method: 'POST' })).status).toBe(400);
    await fetch(`${url}/misbehave?mode=errors`, { method: 'POST' });
    expect(await metric(url, 'demo_checkout_error_ratio')).toBeGreaterThan(0.05);
    await fetch(`${url}/misbehave?mode=slow`, { method: 'POST' });
    expect(await metric(url, 'demo_checkout_latency_p99_seconds')).toBeGreaterThan(2);
    await fetch(`${url}/behave`, { method: 'POST' });
    expect(await metric(url, 'demo_checkout_error_ratio')).toBeLessThan(0.05);
    expect(await metric(url, 'demo_checkout_latency_p99_seconds')).toBeLessThan(2);
    await proc.stop();
  });

  it('breaks on its own schedule, and its failures reach Loki as lines and OTLP as erroring traces', async () => {
    const { url, proc } = await startDemo({
      DEMO_BREAK_AFTER_S: '1',
      DEMO_BREAK_FOR_S: '4',
      LOKI_URL: loki.url,
      OTLP_TRACES_URL: `${otlp.url}/v1/traces`,
    });
    await until('the scheduled break', async () => ((await metric(url, 'demo_checkout_error_ratio')) > 0.05 ? true : undefined), 5000);
    const errorLine = await until(
      'an error line in Loki',
      () => loki.entries({ service_name: 'checkout' }).find((e) => e.line.includes('level=error')),
      8000,
    );
    expect(errorLine.line).toMatch(/^ts=\S+ level=error msg="payment provider call failed" err="upstream timeout after 2000ms"/);
    // Every push was accepted: Loki answers 204 for a good push.
    expect(loki.requestsTo('/loki/api/v1/push').length).toBeGreaterThan(0);
    const failing = await until(
      'an erroring payments span',
      () => otlp.spans.find((s) => s.serviceName === 'payments' && s.statusCode === 2),
      8000,
    );
    const parent = otlp.spans.find((s) => s.spanId === failing.parentSpanId);
    expect(parent).toMatchObject({ serviceName: 'checkout', traceId: failing.traceId, name: 'POST /checkout' });
    await until(
      'the end of the scheduled break',
      async () => ((await metric(url, 'demo_checkout_error_ratio')) < 0.05 ? true : undefined),
      8000,
    );
    expect(proc.output()).not.toMatch(/push failed|export failed/);
    await proc.stop();
  }, 30_000);
});
