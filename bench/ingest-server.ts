/**
 * A server under test for bench/ingest.ts, run in its own process so its RSS is its own.
 * `receiver`: the real receiver (ROLE=receiver) with real Redis.
 * `baseline`: bare node:http — read the body, JSON.parse, one Redis LPUSH, answer 200.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config';
import { startService } from '../src/main';

const [mode, prefix] = process.argv.slice(2);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function main(): Promise<void> {
  let port: number;
  if (mode === 'baseline') {
    const redis = new Redis(REDIS_URL);
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          res.writeHead(400).end();
          return;
        }
        redis.lpush(`${prefix}:baseline`, JSON.stringify(body)).then(
          () => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"queued"}'),
          () => res.writeHead(503).end(),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  } else {
    const config = loadConfig({ PORT: '0', ROLE: 'receiver', REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' });
    const service = await startService(config);
    port = Number(new URL(service.url!).port);
  }
  process.send?.({ port });
  process.on('message', (m) => {
    if (m === 'rss') {
      const status = readFileSync('/proc/self/status', 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
      process.send?.({ peakRssBytes: hwm ? Number(hwm) * 1024 : process.memoryUsage().rss });
    }
  });
}

process.on('SIGTERM', () => process.exit(0));
void main();
