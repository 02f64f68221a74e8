import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, startTestService } from './helpers/service';

/**
 * Issue 10, finding 10: while Redis is down the worker logged `worker error` 38 times in 10 s.
 * A Redis of its own (a second redis-server on a free port) is killed under a running worker.
 */

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

describe('a worker whose Redis goes away', () => {
  it('logs "worker error" at most once per 10 s while Redis is down (the next line says how many it folded in)', async () => {
    const port = await freePort();
    const redis: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100 && !(await portAnswers(port)); i++) await new Promise((r) => setTimeout(r, 50));
    const svc = await startTestService({ ROLE: 'worker', REDIS_URL: `redis://127.0.0.1:${port}`, SHUTDOWN_TIMEOUT_MS: '1000' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      redis.kill('SIGKILL');
      await new Promise((r) => redis.once('exit', r));
      await new Promise((r) => setTimeout(r, 6000));
      const errors = svc.logs.filter((l) => l.msg === 'worker error');
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors.length).toBeLessThanOrEqual(1);
    } finally {
      redis.kill('SIGKILL');
      await svc.service.shutdown();
      svc.redis.disconnect();
      await svc.queue.close().catch(() => undefined);
    }
  }, 30_000);
});
