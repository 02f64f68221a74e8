import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classifyStatus, httpRequest, OutboundError, parseRetryAfter, redactUrl } from '../src/clients/http';
import { retryDelayMs } from '../src/queue/job';
import { LokiClient } from '../src/clients/loki';
import { FakeHttpServer } from './fakes/http';
import { FakeLoki } from './fakes/loki';

describe('the shared retry classifier', () => {
  it.each([
    [200, null],
    [202, null],
    [204, null],
    [400, 'client'],
    [401, 'auth'],
    [403, 'auth'],
    [404, 'client'],
    [413, 'client'],
    [429, 'rate_limited'],
    [500, 'server'],
    [502, 'server'],
    [503, 'server'],
  ] as const)('classifies HTTP %i as %s', (status, reason) => {
    expect(classifyStatus(status)).toBe(reason);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThan(25_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('removes credentials, query strings and webhook paths from URLs in errors', () => {
    expect(redactUrl('https://user:pw@loki.example.com/loki/api/v1/push?token=abc')).toBe('https://loki.example.com/loki/api/v1/push');
    expect(redactUrl('https://hooks.slack.com/services/T0/B0/XXXX')).toBe('https://hooks.slack.com/…');
  });
});

describe('outbound requests', () => {
  const server = new FakeHttpServer(() => ({ status: 200, body: { ok: true } }));
  beforeAll(async () => server.start());
  afterAll(async () => server.stop());

  it('marks 429 and 5xx retryable with the Retry-After delay, other 4xx permanent', async () => {
    server.failNext({ status: 429, headers: { 'Retry-After': '3' }, body: 'slow down' });
    const rate = await httpRequest('t', { url: `${server.url}/x`, timeoutMs: 1000 }).catch((e: OutboundError) => e);
    expect(rate).toMatchObject({ reason: 'rate_limited', retryable: true, retryAfterMs: 3000, status: 429 });
    server.failNext({ status: 400, body: 'bad' });
    const bad = await httpRequest('t', { url: `${server.url}/x`, timeoutMs: 1000 }).catch((e: OutboundError) => e);
    expect(bad).toMatchObject({ reason: 'client', retryable: false });
  });

  it('times out as a retryable error and never puts the query string in the message', async () => {
    server.failNext({ status: 200, delayMs: 500 });
    const err = (await httpRequest('t', { url: `${server.url}/x?api_key=hunter2`, timeoutMs: 100 }).catch(
      (e: unknown) => e,
    )) as OutboundError;
    expect(err).toBeInstanceOf(OutboundError);
    expect(err.reason).toBe('timeout');
    expect(err.retryable).toBe(true);
    expect(err.message).not.toContain('hunter2');
  });

  it('reports a refused connection as a retryable network error', async () => {
    const err = (await httpRequest('t', { url: 'http://127.0.0.1:1/x', timeoutMs: 1000 }).catch((e: unknown) => e)) as OutboundError;
    expect(err.reason).toBe('network');
    expect(err.retryable).toBe(true);
  });

  it('stops at once when the job is aborted, without a retry', async () => {
    server.failNext({ status: 200, delayMs: 1000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = (await httpRequest('t', { url: `${server.url}/x`, timeoutMs: 5000, signal: ac.signal }).catch(
      (e: unknown) => e,
    )) as OutboundError;
    expect(err.reason).toBe('aborted');
    expect(err.retryable).toBe(false);
  });

  it('reads a body no further than maxBodyBytes, with or without a Content-Length, and reads a smaller one whole', async () => {
    // A peer that streams 64 KiB chunks (no Content-Length) until 64 MiB or until the client hangs up.
    let written = 0;
    const endless = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = (): void => {
        while (written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      res.on('close', () => res.removeAllListeners('drain'));
      more();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    try {
      const port = (endless.address() as AddressInfo).port;
      const err = (await httpRequest('t', { url: `http://127.0.0.1:${port}/`, timeoutMs: 10_000, maxBodyBytes: 1024 * 1024 }).catch(
        (e: unknown) => e,
      )) as OutboundError;
      expect(err).toBeInstanceOf(OutboundError);
      expect(err).toMatchObject({ reason: 'bad_response', retryable: false });
      expect(err.message).toMatch(/more than 1048576 bytes/);
      await new Promise((r) => setTimeout(r, 100));
      expect(written).toBeLessThan(64 * 1024 * 1024);
    } finally {
      endless.closeAllConnections();
      await new Promise((r) => endless.close(r));
    }
    server.failNext({ status: 200, body: 'y'.repeat(2 * 1024 * 1024) });
    const declared = (await httpRequest('t', { url: `${server.url}/x`, timeoutMs: 5000, maxBodyBytes: 1024 * 1024 }).catch(
      (e: unknown) => e,
    )) as OutboundError;
    expect(declared.message).toMatch(/more than 1048576 bytes/);
    server.failNext({ status: 200, body: '\ufeff{"ok":"é"}' });
    expect(await httpRequest('t', { url: `${server.url}/x`, timeoutMs: 5000, maxBodyBytes: 1024 }).then((r) => r.text)).toBe('{"ok":"é"}');
  });
});

describe('retry delays of jobs', () => {
  it('grow exponentially from the configured base', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 1000))).toEqual([1000, 2000, 4000, 8000]);
  });

  it('wait at least as long as a rate-limited target asked with Retry-After', () => {
    const err = new OutboundError('slack', 'rate_limited', 'answered 429', 429, 30_000);
    expect(retryDelayMs(1, 1000, err)).toBe(30_000);
    expect(retryDelayMs(6, 1000, err)).toBe(32_000);
  });
});

describe('the Loki client', () => {
  it('sends credentials given in LOKI_URL as basic auth, and never puts them in the URL it calls', async () => {
    const loki = await new FakeLoki().start();
    try {
      const port = new URL(loki.url).port;
      const client = new LokiClient({ url: `http://tenant-user:s3cr%40t@127.0.0.1:${port}/`, tenant: 'team-a' });
      await client.push([{ labels: { job: 'x' }, line: 'hello' }]);
      const [push] = loki.requests;
      expect(push!.headers.authorization).toBe(`Basic ${Buffer.from('tenant-user:s3cr@t').toString('base64')}`);
      expect(push!.headers['x-scope-orgid']).toBe('team-a');
      expect(loki.entries()).toHaveLength(1);
    } finally {
      await loki.stop();
    }
  });
});
