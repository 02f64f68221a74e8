import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { until } from '../helpers/until';

// Kept importable from here: the e2e tests take their helpers from this module.
export { until };

/**
 * Child processes for tests: each runs in its own process group (detached), so stopping it
 * also stops whatever it started, and every started process is tracked so `stopAll()` in an
 * afterAll can clean up even when a test failed half-way.
 */

export const REPO_ROOT = resolve(__dirname, '../..');

export interface Started {
  child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr interleaved). */
  output(): string;
  stdout(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

const running = new Set<Started>();

// Last resort when the test process exits without its afterAll (a crash, a forced exit):
// no process group of ours outlives it. 'exit' handlers must be synchronous, hence SIGKILL.
process.once('exit', () => {
  for (const p of running) {
    try {
      if (p.child.pid !== undefined) process.kill(-p.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** `p`, or `fallback` after `ms`; the timer is cleared either way (no handle left behind). */
function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]).finally(() => clearTimeout(timer));
}

export function start(command: string, args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Started {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let all = '';
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    all += d.toString();
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => (all += d.toString()));
  const exited = new Promise<number | null>((r) => {
    child.once('exit', (code) => r(code));
    child.once('error', () => r(null));
  });
  const started: Started = {
    child,
    output: () => all,
    stdout: () => out,
    exited,
    stop: async () => {
      running.delete(started);
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const kill = (sig: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, sig);
        } catch {
          // already gone
        }
      };
      kill('SIGTERM');
      const done = await within(
        exited.then(() => true),
        5000,
        false,
      );
      if (!done) kill('SIGKILL');
      await within(exited, 2000, null);
    },
  };
  running.add(started);
  return started;
}

/** Runs a TypeScript file under tsx in a fresh Node process. */
export function startTs(file: string, env: Record<string, string> = {}): Started {
  return start(process.execPath, ['--import', 'tsx', file], { env });
}

/** Waits for the process to exit; kills it and throws when it takes longer than `timeoutMs`. */
export async function waitForExit(p: Started, timeoutMs: number): Promise<number | null> {
  const result = await within(p.exited, timeoutMs, 'timeout' as const);
  if (result === 'timeout') {
    await p.stop();
    throw new Error(`process did not exit within ${timeoutMs} ms; output:\n${p.output().slice(-4000)}`);
  }
  running.delete(p);
  return result;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** Waits until GET `url` answers 2xx; fails at once, with its output, if `proc` exits first. */
export async function waitHttpOk(url: string, proc: Started, timeoutMs: number): Promise<void> {
  await until(
    url,
    async () => {
      if (proc.child.exitCode !== null)
        throw new Error(`process exited early (${proc.child.exitCode}) while waiting for ${url}:\n${proc.output().slice(-3000)}`);
      return (await fetch(url, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))?.ok ? true : undefined;
    },
    timeoutMs,
    () => proc.output().slice(-3000),
  );
}
