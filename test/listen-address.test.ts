import { connect } from 'node:net';
import { ConfigError, loadConfig } from '../src/config';
import { startTestService, type TestService } from './helpers/service';

/**
 * Issue 11: the service listened on every interface, silently. HOST chooses the address
 * (unset: every interface, as a container needs), and the start log says which it is.
 */

/** Whether a TCP connection to host:port is accepted. */
const reachable = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe('HOST', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ ROLE: 'receiver', HOST: '127.0.0.1' });
    // Its Redis connections finish their ready check before the tests end and stop it.
    for (let i = 0; i < 100 && (await fetch(`${svc.url}/-/ready`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => svc.stop());

  it('binds the address it names and no other', async () => {
    const port = Number(new URL(svc.url).port);
    expect(new URL(svc.url).hostname).toBe('127.0.0.1');
    expect((await fetch(`${svc.url}/-/healthy`)).ok).toBe(true);
    // 127.0.0.2 is this machine too, on Linux: only a server bound to every interface answers there.
    expect(await reachable('127.0.0.2', port)).toBe(false);
  });

  it('says at start where it listens', () => {
    const line = svc.logs.find((l) => l.msg === 'receiver listening');
    expect(line).toMatchObject({ host: '127.0.0.1', interfaces: 'this address only' });
  });

  it('is unset by default (every interface), and must be an address or a host name', () => {
    expect(loadConfig({}).HOST).toBeUndefined();
    expect(loadConfig({ HOST: '' }).HOST).toBeUndefined();
    expect(loadConfig({ HOST: '::1' }).HOST).toBe('::1');
    expect(loadConfig({ HOST: 'annotator.internal' }).HOST).toBe('annotator.internal');
    expect(() => loadConfig({ HOST: 'http://0.0.0.0' })).toThrow(ConfigError);
  });
});
