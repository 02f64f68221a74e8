import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { NARRATE_QUEUE_NAME, QUEUE_NAME } from '../../src/queue/job';
import { start, type Started } from '../e2e/process';
import { FakeLoki } from '../fakes/loki';
import { FakeOllama } from '../fakes/ollama';
import { FAKE_ROUTING_KEY, FakePagerDuty } from '../fakes/pagerduty';
import { FAKE_SLACK_TOKEN, FakeSlack } from '../fakes/slack';
import { freePort } from '../helpers/service';
import { until } from '../helpers/until';

/**
 * The fault harness: a private `redis-server` (its own port and directory, AOF when the test
 * kills it), the fakes in this process, real `alert-annotator serve` processes (node + tsx,
 * as an operator runs them), notifications through the real webhook, and the counts the
 * issue's table is about: records per (fingerprint, startsAt, status), duplicate records,
 * top-level Slack posts per group, model calls, PagerDuty triggers. Nothing is mocked inside
 * the product: a fault is a real SIGKILL, a real FLUSHALL, or a fake answering as the real
 * service does when it is down.
 */

/** A whole number ≥ 1 from the environment, or `fallback`. */
export function positiveIntEnv(name: string, fallback: number): number {
  return Math.max(1, Math.floor(Number(process.env[name] ?? fallback)) || fallback);
}

/**
 * Groups per row: 20 in the suite (2 alerts each), to keep it minutes long; FAULT_GROUPS=100
 * runs the 200-alert scale by hand. Waits and test timeouts grow with it.
 */
export const FAULT_GROUPS = positiveIntEnv('FAULT_GROUPS', 20);
/** How much longer than the suite's 20 groups a row may take. */
export const FAULT_SCALE = Math.max(1, FAULT_GROUPS / 20);

/** How long a scenario may take to settle: generous, the machine is loaded; never asserted. */
export const SETTLE_MS = 150_000 * FAULT_SCALE;

// ---------------------------------------------------------------------------------------
// Redis

export interface RedisOptions {
  /** AOF with fsync on every write: what survives a SIGKILL (the table's "back after 10 s (AOF)" row). */
  aof?: boolean;
  /** More redis-server arguments (e.g. `--cluster-enabled yes`). */
  args?: string[];
  port?: number;
  dir?: string;
}

async function pingOnce(port: number): Promise<boolean> {
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** One redis-server (or redis-server --sentinel) process on 127.0.0.1, restartable on the same port and directory. */
export class RedisServer {
  proc?: Started;
  private readonly clients: Redis[] = [];
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly argv: string[],
  ) {}

  static async start(opts: RedisOptions = {}): Promise<RedisServer> {
    const port = opts.port ?? (await freePort());
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'faults-redis-'));
    const persistence = opts.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const argv = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...persistence, ...(opts.args ?? [])];
    const r = new RedisServer(port, dir, argv);
    await r.restart();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** A sentinel (`redis-server <conf> --sentinel`) on `port`, writing its config in `dir`. */
  static async sentinel(port: number, dir: string, conf: string): Promise<RedisServer> {
    const r = new RedisServer(port, dir, [conf, '--sentinel']);
    await r.restart();
    return r;
  }

  /** Starts the process again (after kill()), on the same port with the same data directory. */
  async restart(): Promise<void> {
    this.proc = start('redis-server', this.argv);
    await until(
      `redis-server on ${this.port}`,
      () => pingOnce(this.port),
      20_000,
      () => this.proc!.output().slice(-2000),
    );
  }

  /** SIGKILL: no shutdown, no save; only what the AOF already holds survives. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
    process.kill(-p.child.pid!, 'SIGKILL');
    await p.exited;
  }

  /** A client for the test's own reads and faults (FLUSHALL), closed by stop(). */
  client(): Redis {
    const c = new Redis(this.url, { maxRetriesPerRequest: null });
    c.on('error', () => undefined);
    this.clients.push(c);
    return c;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await this.proc?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// A proxy in front of a fake, to act at a chosen moment of the exchange

export interface ProxiedExchange {
  method: string;
  path: string;
  body: string;
  status: number;
  response: string;
  /** Date.now() when the request arrived, and when its answer was passed on. */
  at: number;
  answeredAt: number;
}

/**
 * Passes every request on to `target` and the answer back; `onAnswer` runs after the target
 * answered and before the caller gets the answer, so a test can kill a process exactly
 * between "Slack posted the message" and "the worker wrote down that it did". An answer the
 * hook marks `drop` is never delivered (the connection is destroyed), as when the caller died.
 */
export class FaultProxy {
  readonly exchanges: ProxiedExchange[] = [];
  onAnswer?: (x: ProxiedExchange) => void | 'drop' | Promise<void | 'drop'>;
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target: () => string) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const at = Date.now();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
    let status = 502;
    let response = '';
    let outHeaders: Record<string, string> = {};
    try {
      const r = await fetch(`${this.target()}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers,
        ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
      });
      status = r.status;
      response = await r.text();
      outHeaders = Object.fromEntries(
        [...r.headers.entries()].filter(([k]) => !['content-length', 'transfer-encoding', 'connection'].includes(k)),
      );
    } catch {
      res.destroy();
      return;
    }
    const x: ProxiedExchange = { method: req.method ?? 'GET', path: req.url ?? '/', body, status, response, at, answeredAt: 0 };
    const verdict = await this.onAnswer?.(x);
    x.answeredAt = Date.now();
    this.exchanges.push(x);
    if (verdict === 'drop' || res.destroyed) {
      res.destroy();
      return;
    }
    res.writeHead(status, outHeaders);
    res.end(response);
  }
}

// ---------------------------------------------------------------------------------------
// The product

export interface ProductProcess {
  proc: Started;
  url: string;
  role: string;
  /** SIGKILL of the process group: no shutdown of any kind. */
  kill(): Promise<void>;
  /** SIGTERM, as an orchestrator stops it; resolves with the exit code. */
  terminate(): Promise<number | null>;
  /** SIGSTOP / SIGCONT of the process group: a process that freezes (a long GC pause, a paused VM) and comes back. */
  pause(): void;
  resume(): void;
}

/** `alert-annotator serve` as its own process (node + tsx, the launcher's fallback). */
export async function startProduct(env: Record<string, string>, role: 'all' | 'receiver' | 'worker' = 'all'): Promise<ProductProcess> {
  const port = await freePort();
  const proc = start(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    env: { LOG_LEVEL: 'info', ...env, ROLE: role, PORT: String(port) },
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    `alert-annotator (${role}) to listen`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`alert-annotator exited ${proc.child.exitCode}:\n${proc.output().slice(-3000)}`);
      return (await fetch(`${url}/-/healthy`).catch(() => undefined))?.ok ?? false;
    },
    60_000,
  );
  return {
    proc,
    url,
    role,
    kill: async () => {
      if (proc.child.exitCode === null && proc.child.signalCode === null) process.kill(-proc.child.pid!, 'SIGKILL');
      await proc.exited;
    },
    terminate: async () => {
      proc.child.kill('SIGTERM');
      return proc.exited;
    },
    pause: () => process.kill(-proc.child.pid!, 'SIGSTOP'),
    resume: () => process.kill(-proc.child.pid!, 'SIGCONT'),
  };
}

// ---------------------------------------------------------------------------------------
// Notifications

export interface Notification {
  groupKey: string;
  body: Record<string, unknown>;
}

export interface NotificationOptions {
  /** Distinguishes the scenario's alert names and fingerprints from any other test's. */
  tag: string;
  groups: number;
  alertsPerGroup: number;
  status?: 'firing' | 'resolved';
  /** Alertmanager's externalURL: an HA pair's instances differ only there. */
  externalURL?: string;
  startsAt?: string;
}

/** The alert name of group `n`: no name is a prefix of another (Group1Alert, Group10Alert). */
export const alertnameOf = (tag: string, n: number) => `${tag}Group${n}Alert`;

/** One notification per group, as Alertmanager 0.25 sends them (critical: Slack and PagerDuty both). */
export function notifications(o: NotificationOptions): Notification[] {
  const status = o.status ?? 'firing';
  const startsAt = o.startsAt ?? new Date(Date.now() - 120_000).toISOString();
  const endsAt = status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z';
  const out: Notification[] = [];
  for (let g = 0; g < o.groups; g++) {
    const alertname = alertnameOf(o.tag, g);
    const groupKey = `{}/{severity="critical"}:{alertname="${alertname}"}`;
    const alerts = Array.from({ length: o.alertsPerGroup }, (_, a) => {
      const labels = { alertname, severity: 'critical', service: `svc${g}`, instance: `host-${a}:9000` };
      return {
        status,
        labels,
        annotations: { summary: `${alertname} on host-${a}` },
        startsAt,
        endsAt,
        generatorURL: 'http://prometheus.example:9090/graph?g0.expr=up',
        fingerprint: createHash('sha256').update(`${o.tag}|${g}|${a}`).digest('hex').slice(0, 16),
      };
    });
    out.push({
      groupKey,
      body: {
        version: '4',
        groupKey,
        truncatedAlerts: 0,
        status,
        receiver: 'annotator',
        groupLabels: { alertname },
        commonLabels: { alertname, severity: 'critical', service: `svc${g}` },
        commonAnnotations: {},
        externalURL: o.externalURL ?? 'http://alertmanager-0.example:9093',
        alerts,
      },
    });
  }
  return out;
}

export interface SendResult {
  /** Answers by HTTP status, over every attempt. */
  statuses: Record<number, number>;
  /** Notifications that never got a 2xx before the deadline. */
  undelivered: number;
}

/**
 * Posts each notification to the webhook as Alertmanager does: a 5xx or a connection error is
 * retried (with a short pause) until `deadlineMs`; a 2xx or 4xx ends it.
 */
export async function send(
  webhook: () => string,
  items: Notification[],
  opts: { concurrency?: number; deadlineMs?: number } = {},
): Promise<SendResult> {
  const statuses: Record<number, number> = {};
  let undelivered = 0;
  const queue = [...items];
  const deadline = Date.now() + (opts.deadlineMs ?? 90_000);
  const one = async (n: Notification) => {
    for (;;) {
      // No receiver up at this moment (one stopped, the next not yet listening): as for
      // Alertmanager, a failed attempt, tried again.
      let url: string | undefined;
      try {
        url = webhook();
      } catch {
        url = undefined;
      }
      const status = !url
        ? 0
        : await fetch(`${url}/webhook/alertmanager`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'User-Agent': 'Alertmanager/0.25.0' },
            body: JSON.stringify(n.body),
            signal: AbortSignal.timeout(10_000),
          }).then(
            async (r) => (await r.arrayBuffer(), r.status),
            () => 0,
          );
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 500) return;
      if (Date.now() > deadline) {
        undelivered++;
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  await Promise.all(
    Array.from({ length: opts.concurrency ?? 4 }, async () => {
      for (let n = queue.shift(); n; n = queue.shift()) await one(n);
    }),
  );
  return { statuses, undelivered };
}

// ---------------------------------------------------------------------------------------
// The scenario: fakes, Redis, the product, and the counts

export interface Counts {
  /** Distinct (fingerprint, startsAt, status) with at least one annotation record. */
  records: number;
  /** Records beyond the first for the same (fingerprint, startsAt, status, deterministic|model). */
  duplicates: number;
  /** Of those, the firing ones whose note came from the model (the narration update). */
  narrated: number;
  /** Top-level Slack messages (chat.postMessage without thread_ts that Slack accepted). */
  posts: number;
  /** Groups with more than one top-level message. */
  groupsPostedTwice: number;
  /** Chat requests the model server received. */
  modelCalls: number;
  /**
   * PagerDuty incidents (distinct dedup keys triggered; a later trigger with the same key
   * updates the incident, as the narration does), and incidents triggered again after their resolve.
   */
  pagerdutyIncidents: number;
  pagerdutyReopened: number;
}

/** Where the scenario's Redis is: one server (the default), a Cluster, or Sentinel's master. */
export interface RedisTopology {
  /** The service's REDIS_* settings for it. */
  env: Record<string, string>;
  /** A connection for the test's own reads (queue counts). */
  admin(): Redis;
  stop(): Promise<void>;
}

export interface ScenarioOptions {
  tag: string;
  redis?: RedisOptions;
  /** Another Redis than one private server: a Cluster (startCluster) or Sentinel (startSentinel). */
  topology?: () => Promise<RedisTopology>;
  /** QUEUE_PREFIX; `faults-<tag>` by default. */
  prefix?: string;
  /** The model narrates (fake Ollama); off: LLM_PROVIDER=none. */
  model?: boolean;
  /** Slack through a FaultProxy (Scenario.slackProxy). */
  proxySlack?: boolean;
  /** The model through a FaultProxy (Scenario.modelProxy), to see when it answered. */
  proxyModel?: boolean;
  /** Loki through a FaultProxy (Scenario.lokiProxy), for the service only; the test reads the fake itself. */
  proxyLoki?: boolean;
}

export class Scenario {
  readonly loki = new FakeLoki();
  readonly slack = new FakeSlack();
  readonly pagerduty = new FakePagerDuty();
  readonly ollama = new FakeOllama();
  readonly slackProxy: FaultProxy;
  readonly modelProxy: FaultProxy;
  readonly lokiProxy: FaultProxy;
  /** The private redis-server, unless the scenario runs on another topology. */
  redis!: RedisServer;
  topology!: RedisTopology;
  /** The test's own connection to the scenario's Redis. */
  admin!: Redis;
  readonly prefix: string;
  readonly products: ProductProcess[] = [];
  private queues: Queue[] = [];

  constructor(readonly opts: ScenarioOptions) {
    this.prefix = opts.prefix ?? `faults-${opts.tag}`;
    this.slackProxy = new FaultProxy(() => this.slack.url);
    this.modelProxy = new FaultProxy(() => this.ollama.url);
    this.lokiProxy = new FaultProxy(() => this.loki.url);
  }

  async start(): Promise<this> {
    await Promise.all([this.loki.start(), this.slack.start(), this.pagerduty.start(), this.ollama.start()]);
    if (this.opts.proxySlack) await this.slackProxy.start();
    if (this.opts.proxyModel) await this.modelProxy.start();
    if (this.opts.proxyLoki) await this.lokiProxy.start();
    if (this.opts.topology) this.topology = await this.opts.topology();
    else {
      const redis = (this.redis = await RedisServer.start(this.opts.redis));
      this.topology = { env: { REDIS_URL: redis.url }, admin: () => redis.client(), stop: () => redis.stop() };
    }
    this.admin = this.topology.admin();
    this.queues = [QUEUE_NAME, NARRATE_QUEUE_NAME].map((n) => {
      const q = new Queue(n, { connection: this.admin, prefix: this.prefix });
      q.on('error', () => undefined);
      return q;
    });
    return this;
  }

  /** The service's environment: every target is a fake, retries are short, the model on or off. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      WEBHOOK_AUTH: 'none',
      ...this.topology.env,
      QUEUE_PREFIX: this.prefix,
      LOKI_URL: this.opts.proxyLoki ? this.lokiProxy.url : this.loki.url,
      SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
      SLACK_CHANNEL: 'C0ALERTS',
      SLACK_API_URL: `${this.opts.proxySlack ? this.slackProxy.url : this.slack.url}/api`,
      PAGERDUTY_ROUTING_KEY: FAKE_ROUTING_KEY,
      PAGERDUTY_EVENTS_URL: `${this.pagerduty.url}/v2/enqueue`,
      LLM_PROVIDER: this.opts.model === false ? 'none' : 'ollama',
      OLLAMA_HOST: this.opts.proxyModel ? this.modelProxy.url : this.ollama.url,
      JOB_BACKOFF_MS: '200',
      JOB_BACKOFF_MAX_MS: '2000',
      SHUTDOWN_TIMEOUT_MS: '5000',
      ...extra,
    };
  }

  async product(role: 'all' | 'receiver' | 'worker' = 'all', extra: Record<string, string> = {}): Promise<ProductProcess> {
    const p = await startProduct(this.env(extra), role);
    this.products.push(p);
    return p;
  }

  /** The first process that takes webhooks. */
  webhook(): string {
    const p = this.products.find((x) => x.role !== 'worker' && x.proc.child.exitCode === null && x.proc.child.signalCode === null);
    if (!p) throw new Error('no receiver running');
    return p.url;
  }

  send(items: Notification[], opts?: Parameters<typeof send>[2]): Promise<SendResult> {
    return send(() => this.webhook(), items, opts);
  }

  /** Jobs waiting, active or delayed in either queue; undefined while Redis does not answer. */
  async pendingJobs(): Promise<number | undefined> {
    try {
      const states = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;
      const all = await Promise.all(this.queues.map((q) => q.getJobCounts(...states)));
      return all.reduce((n, c) => n + Object.values(c).reduce((a, b) => a + b, 0), 0);
    } catch {
      return undefined;
    }
  }

  counts(): Counts {
    const byKey = new Map<string, { template: number; model: number; firing: boolean }>();
    for (const r of this.loki.records()) {
      if (r.kind !== undefined) continue; // feedback and other kinds of line, not annotation records
      const key = `${String(r.fingerprint)}|${String(r.startsAt)}|${String(r.status)}`;
      const k = byKey.get(key) ?? { template: 0, model: 0, firing: r.status === 'firing' };
      if (r.narrator === 'template') k.template++;
      else k.model++;
      byKey.set(key, k);
    }
    let duplicates = 0;
    let narrated = 0;
    for (const k of byKey.values()) {
      duplicates += Math.max(0, k.template - 1) + Math.max(0, k.model - 1);
      if (k.firing && k.model > 0) narrated++;
    }
    const top = this.slack.topLevel();
    const perGroup = new Map<string, number>();
    for (const m of top) {
      const name = /\b(\w+Group\d+Alert)\b/.exec(`${m.text ?? ''} ${JSON.stringify(m.blocks ?? [])}`)?.[1] ?? '?';
      perGroup.set(name, (perGroup.get(name) ?? 0) + 1);
    }
    const incidents = [...this.pagerduty.incidents.values()];
    const reopened = incidents.filter((i) => {
      const resolvedAt = i.events.findIndex((e) => e.event_action === 'resolve');
      return resolvedAt >= 0 && i.events.slice(resolvedAt).some((e) => e.event_action === 'trigger');
    });
    return {
      records: byKey.size,
      duplicates,
      narrated,
      posts: top.length,
      groupsPostedTwice: [...perGroup.values()].filter((n) => n > 1).length,
      modelCalls: this.ollama.chats().length,
      pagerdutyIncidents: incidents.filter((i) => i.events.some((e) => e.event_action === 'trigger')).length,
      pagerdutyReopened: reopened.length,
    };
  }

  /** Requests every fake has seen: the output is settled once this stops moving. */
  private activity(): number {
    return this.loki.requests.length + this.slack.requests.length + this.pagerduty.requests.length + this.ollama.requests.length;
  }

  /**
   * Waits until the records (and the model's notes, when asked for) are all there, no job is
   * left in either queue, and no fake saw a request for `quietMs`; or until `timeoutMs`. Then
   * the counts, whether or not it settled: a test compares them with the goal, so a shortfall
   * shows as numbers, not as a timeout.
   */
  async settle(expect: { records: number; narrated?: number; idle?: boolean }, timeoutMs = SETTLE_MS, quietMs = 2000): Promise<Counts> {
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      const c = this.counts();
      const done = c.records >= expect.records && c.narrated >= (expect.narrated ?? 0);
      const idle = expect.idle === false || (await this.pendingJobs()) === 0;
      const a = this.activity();
      if (a !== last) {
        last = a;
        quietSince = Date.now();
      }
      if (done && idle && Date.now() - quietSince >= quietMs) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const counts = this.counts();
    if (process.env.FAULTS_REPORT) {
      process.stderr.write(`faults ${this.opts.tag}: ${JSON.stringify(counts)}\n`);
      writeFileSync(
        join(process.env.FAULTS_REPORT, `${this.opts.tag}.log`),
        [
          ...this.products.map((p) => `--- ${p.role}\n${p.proc.output()}`),
          // Which groups went out twice, and when: the fake's messages and the proxied posts.
          '--- slack',
          ...this.slack
            .topLevel()
            .map((m) => `${new Date(m.at).toISOString()} ${m.ts} ${/\b(\w+Group\d+Alert)\b/.exec(m.text ?? '')?.[1] ?? '?'}`),
          '--- proxied top-level posts',
          ...(this.opts.proxySlack ? this.slackProxy.exchanges.filter(isTopLevelPost) : []).map(
            (x) =>
              `${new Date(x.at).toISOString()} → ${new Date(x.answeredAt).toISOString()} ${/\b(\w+Group\d+Alert)\b/.exec(x.body)?.[1] ?? '?'}`,
          ),
        ].join('\n'),
      );
    }
    return counts;
  }

  /** Log lines of every product process whose text contains `fragment`. */
  logLines(fragment: string): string[] {
    return this.products.flatMap((p) => p.proc.output().split('\n')).filter((l) => l.includes(fragment));
  }

  /** Every product log line, all processes, for a failure message. */
  output(): string {
    return this.products.map((p) => `--- ${p.role} ---\n${p.proc.output().slice(-4000)}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.products.map((p) => p.proc.stop()));
    await Promise.all(this.queues.map((q) => q.close().catch(() => undefined)));
    await this.topology?.stop();
    await Promise.all([this.loki.stop(), this.slack.stop(), this.pagerduty.stop(), this.ollama.stop()]);
    await Promise.all([this.slackProxy.stop(), this.modelProxy.stop(), this.lokiProxy.stop()]);
  }
}

/** The goal of every row, for `groups` groups of `perGroup` alerts, with the model on. */
export function goal(groups: number, perGroup: number, opts: { model?: boolean; resolved?: boolean } = {}): Counts {
  const alerts = groups * perGroup;
  const model = opts.model !== false;
  return {
    records: opts.resolved ? 2 * alerts : alerts,
    duplicates: 0,
    narrated: model ? alerts : 0,
    posts: groups,
    groupsPostedTwice: 0,
    modelCalls: model ? groups : 0,
    pagerdutyIncidents: groups,
    pagerdutyReopened: 0,
  };
}

/** A top-level chat.postMessage through the proxy that Slack accepted (JSON or form-encoded, as Slack's client sends). */
export function isTopLevelPost(x: ProxiedExchange): boolean {
  if (!x.path.startsWith('/api/chat.postMessage') || x.status !== 200) return false;
  try {
    const res = JSON.parse(x.response) as { ok?: boolean };
    let threadTs: unknown;
    try {
      threadTs = (JSON.parse(x.body) as { thread_ts?: unknown }).thread_ts;
    } catch {
      threadTs = new URLSearchParams(x.body).get('thread_ts') ?? undefined;
    }
    return res.ok === true && (threadTs === undefined || threadTs === '');
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Redis Cluster and Sentinel, started by the test

function redisCli(args: string[]): Promise<{ code: number | null; output: string }> {
  const p = start('redis-cli', args);
  return p.exited.then((code) => ({ code, output: p.output() }));
}

export interface ClusterTopology extends RedisTopology {
  nodes: RedisServer[];
}

/**
 * A Redis Cluster of `masters` masters without replicas: `redis-server --cluster-enabled yes`
 * each, joined by `redis-cli --cluster create`, ready once every node says cluster_state:ok.
 */
export async function startCluster(masters = 3): Promise<ClusterTopology> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < masters; i++) {
    const port = await freePort();
    nodes.push(
      await RedisServer.start({
        port,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
      }),
    );
  }
  const created = await redisCli([
    '--cluster',
    'create',
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  if (created.code !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.output}`);
  const probes = nodes.map((n) => n.client());
  await until(
    'cluster_state:ok on every node',
    async () => (await Promise.all(probes.map((c) => c.cluster('INFO')))).every((info) => String(info).includes('cluster_state:ok')),
    30_000,
  );
  const admins: Redis[] = [];
  return {
    nodes,
    env: { REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(',') },
    admin: () => {
      const c = new Cluster(
        nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
        { redisOptions: { maxRetriesPerRequest: null } },
      );
      c.on('error', () => undefined);
      admins.push(c as unknown as Redis);
      return c as unknown as Redis;
    },
    stop: async () => {
      for (const a of admins) a.disconnect();
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

export interface SentinelTopology extends RedisTopology {
  master: RedisServer;
  replica: RedisServer;
  sentinels: RedisServer[];
  /** host:port of the master the sentinels name now. */
  currentMaster(): Promise<string>;
  /** SENTINEL FAILOVER: the replica is promoted; resolves once the sentinels name it. */
  failover(): Promise<void>;
}

export const SENTINEL_NAME = 'faultsmaster';

/**
 * A master, one replica and `count` sentinels (`redis-server <conf> --sentinel`, what the
 * redis-sentinel binary is) watching it, all on private ports.
 */
export async function startSentinel(count = 3): Promise<SentinelTopology> {
  const master = await RedisServer.start({});
  const replica = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  const replicaClient = replica.client();
  await until('the replica to sync', async () => /master_link_status:up/.test(await replicaClient.info('replication')), 30_000);
  const sentinels: RedisServer[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'faults-sentinel-'));
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${master.port} ${Math.min(2, count)}`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
        `sentinel failover-timeout ${SENTINEL_NAME} 10000`,
        `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push(await RedisServer.sentinel(port, dir, conf));
  }
  const ask = sentinels[0]!.client();
  const currentMaster = async () => {
    const [host, port] = (await ask.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME)) as [string, string];
    return `${host}:${port}`;
  };
  // Every sentinel knows the replica (and the others) before a failover can pick it.
  await until(
    'the sentinels to see the replica',
    async () => {
      const replicas = (await ask.call('SENTINEL', 'replicas', SENTINEL_NAME)) as unknown[];
      return replicas.length === 1;
    },
    30_000,
  );
  const admins: Redis[] = [];
  const env = {
    REDIS_SENTINELS: sentinels.map((n) => `127.0.0.1:${n.port}`).join(','),
    REDIS_SENTINEL_NAME: SENTINEL_NAME,
  };
  return {
    master,
    replica,
    sentinels,
    env,
    currentMaster,
    failover: async () => {
      const before = await currentMaster();
      await ask.call('SENTINEL', 'failover', SENTINEL_NAME);
      await until('the sentinels to name the new master', async () => (await currentMaster()) !== before, 30_000);
    },
    admin: () => {
      const c = new Redis({
        sentinels: sentinels.map((n) => ({ host: '127.0.0.1', port: n.port })),
        name: SENTINEL_NAME,
        maxRetriesPerRequest: null,
      });
      c.on('error', () => undefined);
      admins.push(c);
      return c;
    },
    stop: async () => {
      for (const a of admins) a.disconnect();
      await Promise.all([master, replica, ...sentinels].map((n) => n.stop()));
    },
  };
}
