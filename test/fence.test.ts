import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { withFence, type Fence } from '../src/clients/fence';
import { httpRequest, OutboundError } from '../src/clients/http';
import { SlackWebApi } from '../src/publish/slack-api';
import { FAKE_SLACK_TOKEN, FakeSlack } from './fakes/slack';
import { outcome } from './helpers/outcome';

/**
 * A fenced request (src/clients/fence.ts) is checked a second time right before it is written
 * to its connection: a lease that ran out after the caller's own check (the process paused in
 * the TCP handshake, SIGSTOP) lets nothing reach the server. The lease is made to run out
 * right after the call here, before undici had a connection to write on.
 */

let server: Server;
let url: string;
let received = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    received++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  received = 0;
});

/** A lease the test ends by hand. */
function lease(): Fence & { end(): void } {
  let held = true;
  return {
    held: () => held,
    lapsed: () => new OutboundError('loki', 'server', 'the group lock lapsed before pushing the record; will retry'),
    end: () => {
      held = false;
    },
  };
}

const post = () => httpRequest('loki', { method: 'POST', url, body: { line: 1 }, timeoutMs: 2000 });

describe('a fenced request', () => {
  it('goes out while its lease holds', async () => {
    const l = lease();
    expect(await withFence(l, post)).toMatchObject({ status: 200, text: 'ok' });
    expect(received).toBe(1);
  });

  it('never reaches the server when its lease ends between the call and the write, on a new connection', async () => {
    const l = lease();
    const sent = withFence(l, post);
    l.end();
    const err = await sent.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundError);
    expect((err as OutboundError).message).toMatch(/lock lapsed before pushing/);
    expect((err as OutboundError).retryable).toBe(true);
    expect(received).toBe(0);
  });

  it('never reaches the server when its lease ends before the write, on a kept-alive connection', async () => {
    const l = lease();
    await withFence(l, post);
    expect(received).toBe(1);
    const sent = withFence(l, post);
    l.end();
    expect(await outcome(sent)).toEqual({ ok: false, reason: 'server', retryable: true });
    expect(received).toBe(1);
    // The connection stays usable for the next request.
    expect(await withFence(lease(), post)).toMatchObject({ status: 200 });
    expect(received).toBe(2);
  });

  it('is not fenced outside withFence', async () => {
    expect(await post()).toMatchObject({ status: 200 });
    expect(received).toBe(1);
  });

  it("made by Slack's WebClient is fenced too: no message is posted", async () => {
    const slack = await new FakeSlack().start();
    try {
      const api = new SlackWebApi({ token: FAKE_SLACK_TOKEN, apiUrl: `${slack.url}/api`, timeoutMs: 2000 });
      const l = lease();
      const sent = withFence(l, () => api.call('chat.postMessage', { channel: '#alerts', text: 'hello' }));
      l.end();
      const err = await sent.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutboundError);
      expect((err as OutboundError).message).toMatch(/lock lapsed/);
      expect(slack.topLevel()).toHaveLength(0);
      // And while the lease holds, it is.
      await withFence(lease(), () => api.call('chat.postMessage', { channel: '#alerts', text: 'hello' }));
      expect(slack.topLevel()).toHaveLength(1);
    } finally {
      await slack.stop();
    }
  });
});
