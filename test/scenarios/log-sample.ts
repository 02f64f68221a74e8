import { hex, rng } from './sim';

/**
 * A labelled sample of log lines for measuring the Drain miner (bench/rca.ts): lines drawn
 * from 22 templates whose variables are numbers, ids, IPs, emails, and also plain words the
 * masks cannot know (user names, table names, class names). Two templates differ by one
 * word ("logged in" / "logged out"), which a similarity-based miner may merge.
 */

type Gen = (r: () => number) => string;
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const n = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const ip = (r: () => number): string => `10.${n(r, 0, 255)}.${n(r, 0, 255)}.${n(r, 1, 254)}`;
const uuid = (r: () => number): string => `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${hex(r, 12)}`;
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'];
const SERVICES = ['payments', 'orders', 'cart', 'inventory', 'shipping'];

export const LOG_TEMPLATES: readonly [string, Gen][] = [
  ['refused', (r) => `Connection refused to ${ip(r)}:${n(r, 1000, 9999)}`],
  ['login', (r) => `user ${pick(r, NAMES)} logged in from ${ip(r)}`],
  ['logout', (r) => `user ${pick(r, NAMES)} logged out from ${ip(r)}`],
  ['get', (r) => `GET /api/products/${n(r, 1, 99999)} returned ${pick(r, [200, 404, 500])} in ${n(r, 1, 900)}ms`],
  ['order-failed', (r) => `Failed to process order ${uuid(r)}: ${pick(r, ['insufficient_stock', 'payment_declined', 'address_invalid'])}`],
  ['cache-miss', (r) => `Cache miss for key ${pick(r, ['products', 'users', 'carts'])}:${n(r, 1, 99999)}`],
  ['slow-query', (r) => `Slow query took ${n(r, 200, 5000)}ms: SELECT * FROM ${pick(r, ['orders', 'users', 'items'])} WHERE id = $1`],
  ['retry', (r) => `Retrying request to ${pick(r, SERVICES)} attempt=${n(r, 1, 5)} backoff=${n(r, 10, 900)}ms`],
  ['pool', (r) => `HikariPool-1 - Connection is not available, request timed out after ${n(r, 30000, 30010)}ms.`],
  [
    'npe',
    (r) =>
      `java.lang.NullPointerException at ${pick(r, ['OrderMapper', 'CartMapper', 'UserMapper'])}.toEntity(Mapper.java:${n(r, 10, 400)})`,
  ],
  ['email', (r) => `Sent email to ${pick(r, NAMES)}@example.com template=${pick(r, ['welcome', 'receipt', 'reset'])}`],
  [
    'restart',
    (r) => `pod ${pick(r, SERVICES)}-${hex(r, 9)}-${hex(r, 5)} restarted ${n(r, 1, 30)} times in namespace ${pick(r, ['shop', 'infra'])}`,
  ],
  ['upstream-slow', (r) => `level=warn msg="upstream responded slowly" upstream=${pick(r, SERVICES)} latency_ms=${n(r, 400, 3000)}`],
  [
    'request-failed',
    (r) =>
      `level=error msg="request failed" path=/api/${pick(r, ['cart', 'checkout', 'search'])} status=${pick(r, [500, 502, 503])} trace_id=${hex(r, 32)}`,
  ],
  ['disk', (r) => `Disk usage on ${pick(r, ['/', '/var', '/data'])} is ${n(r, 80, 99)}%`],
  ['tls', (r) => `TLS handshake error from ${ip(r)}:${n(r, 30000, 60000)}: EOF`],
  ['deadline', (r) => `Deadline exceeded calling ${pick(r, SERVICES)}.${pick(r, ['Get', 'List', 'Charge'])} after ${n(r, 1, 30)}s`],
  ['checkpoint', (r) => `checkpoint complete: wrote ${n(r, 10, 9000)} buffers (${n(r, 0, 99)}.${n(r, 0, 9)}%)`],
  [
    'job',
    (r) => `Job ${pick(r, ['reindex', 'backup', 'vacuum'])} finished in ${n(r, 10, 99999)} ms with status ${pick(r, ['ok', 'failed'])}`,
  ],
  ['rate-limit', (r) => `Rate limit exceeded for client ${hex(r, 16)} on route /v1/${pick(r, ['orders', 'items'])}`],
  ['oom', (r) => `OOMKilled container ${pick(r, SERVICES)} in pod ${pick(r, SERVICES)}-${hex(r, 9)}-${hex(r, 5)}`],
  [
    'declined',
    (r) => `WARN card declined code=${pick(r, ['05', '51', '54'])} customer=${hex(r, 10)} amount=${n(r, 1, 999)}.${n(r, 10, 99)}`,
  ],
];

export function labelledLogSample(count: number, seed = 7): { line: string; template: string }[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => {
    const [template, gen] = pick(r, LOG_TEMPLATES);
    return { line: gen(r), template };
  });
}
