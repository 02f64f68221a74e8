import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/service';
import { start, waitHttpOk, type Started } from './process';

/**
 * Real Prometheus and Alertmanager for the end-to-end test: Debian's `prometheus` and
 * `prometheus-alertmanager` packages (npm run setup:test installs them), each on a free loopback port
 * with its own temporary directory, deleted on stop.
 */

/** The binary named by `envName`, or the first of `candidates` on PATH. */
export function findBinary(envName: string, candidates: string[]): string {
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  for (const c of candidates) {
    try {
      return execFileSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error(
    `none of ${candidates.join(', ')} is installed (run npm run setup:test, which installs Debian's prometheus and prometheus-alertmanager, or set ${envName})`,
  );
}

export interface Peer {
  url: string;
  port: number;
  dir: string;
  proc: Started;
  stop(): Promise<void>;
}

/**
 * Starts `bin` in a fresh temporary directory holding `files`, on a free port, and waits for
 * /-/ready. `prepare` runs in that directory before the start (to backfill a TSDB, say).
 */
export async function launch(
  name: string,
  bin: string,
  files: Record<string, string>,
  args: (dir: string, port: number) => string[],
  prepare?: (dir: string) => void,
): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), `e2e-${name}-`));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  try {
    prepare?.(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // A free port can be taken by another test process before the server binds it: try another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = start(bin, args(dir, port), { cwd: dir });
    const url = `http://127.0.0.1:${port}`;
    const peer: Peer = {
      url,
      port,
      dir,
      proc,
      stop: async () => {
        await proc.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    try {
      await waitHttpOk(`${url}/-/ready`, proc, 20_000);
      return peer;
    } catch (err) {
      const taken = attempt < 3 && /address already in use/.test(proc.output());
      await (taken ? proc.stop() : peer.stop());
      if (!taken) throw err;
    }
  }
}

/** Prometheus with the given config and rule files; short resend delay so resolves travel fast. */
export function startPrometheus(config: string, rules: Record<string, string>): Promise<Peer> {
  const bin = findBinary('PROMETHEUS_BIN', ['prometheus']);
  return launch('prometheus', bin, { 'prometheus.yml': config, ...rules }, (dir, port) => [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // Default 1m: how long Prometheus waits before re-sending an alert to Alertmanager.
    '--rules.alert.resend-delay=1s',
    '--log.level=warn',
  ]);
}

/**
 * Alertmanager without clustering (an empty cluster address turns the gossip listener off),
 * announcing its own URL as `externalURL`, as each member of an HA pair does.
 */
export function startAlertmanager(config: string): Promise<Peer> {
  const bin = findBinary('ALERTMANAGER_BIN', ['prometheus-alertmanager', 'alertmanager']);
  return launch('alertmanager', bin, { 'alertmanager.yml': config }, (dir, port) => [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=http://127.0.0.1:${port}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ]);
}

/** The value of one sample in a Prometheus text exposition (sum over matching series). */
export function sampleSum(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => set[k] === v)) sum += Number(m[3]);
  }
  return sum;
}
