/**
 * npm run eval:lab (issue 12 item 8): a small real estate on this machine, real faults one at a
 * time, and the annotation records scored. Four lab services (service.ts: frontend → checkout →
 * inventory (the machine's PostgreSQL) and cart (a redis-server started here)), a load
 * generator, the real Prometheus scraping every second and evaluating alert rules, the real
 * Alertmanager sending to the annotator (in-process), and in-process fakes for Loki and Tempo
 * that store what the services push. Prints per fault the top suspects, whether the culprit was
 * first (AC@1) or in the top 3 (AC@3), and minutes from injection to the record.
 * LAB_WARMUP_S (default 330: a baseline window and the lead) and LAB_FAULTS (comma-separated
 * subset) shorten a run; LAB_PAUSE_S (default 200) is the calm after each fault's alerts resolve,
 * so the next fault's baseline holds little of the last one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '../src/config';
import { startService } from '../src/main';
import { startAlertmanager, startPrometheus, type Peer } from '../test/e2e/peers';
import { FakeLoki } from '../test/fakes/loki';
import { FakeTempo } from '../test/fakes/tempo';
import { freePort } from '../test/helpers/service';

const TOKEN = 'lab-webhook-token';
/** The smallest baseline the annotator accepts (BASELINE_WINDOW_MIN >= 5). */
const BASELINE_MIN = 5;
const LEAD_MIN = 1;
// Most of a baseline window: the robust baseline (median, IQR) shrugs off the minute of the last
// fault's tail that is left in it; a full window would make a run an hour.
const PAUSE_S = Number(process.env.LAB_PAUSE_S ?? 200);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Fault {
  name: string;
  /** Services (or dependency nodes) that count as the right answer. */
  culprits: string[];
  on(): Promise<unknown>;
  off(): Promise<unknown>;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const stops: (() => Promise<void>)[] = [];
  const children = new Map<string, ChildProcess>();
  const loki = new FakeLoki();
  const tempo = new FakeTempo();
  await loki.start();
  await tempo.start();
  stops.push(
    () => loki.stop(),
    () => tempo.stop(),
  );

  // The lab's own Redis: stopped and started for the "Redis down" fault, never the machine's.
  const redisPort = await freePort();
  let labRedis: ChildProcess | undefined;
  const startRedis = async (): Promise<void> => {
    labRedis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    await sleep(300);
  };
  const stopRedis = async (): Promise<void> => {
    labRedis?.kill('SIGTERM');
    labRedis = undefined;
    await sleep(300);
  };
  await startRedis();

  const names = ['frontend', 'checkout', 'inventory', 'cart'];
  const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()] as const)));
  const env: Record<string, Record<string, string>> = {
    frontend: { DOWNSTREAMS: `http://127.0.0.1:${ports.checkout}/` },
    checkout: { DOWNSTREAMS: `http://127.0.0.1:${ports.inventory}/,http://127.0.0.1:${ports.cart}/` },
    inventory: { PG: '1' },
    cart: { REDIS_URL: `redis://127.0.0.1:${redisPort}` },
  };
  const startChild = (name: string, extra: Record<string, string> = {}): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'service.ts')], {
        env: {
          ...process.env,
          NAME: name,
          PORT: String(ports[name]),
          OTLP_URL: tempo.url,
          LOKI_URL: loki.url,
          VERSION: '1.0.0',
          ...env[name],
          ...extra,
        },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      children.set(name, child);
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
    });
  const stopChild = async (name: string): Promise<void> => {
    const c = children.get(name);
    if (!c || c.exitCode !== null) return;
    c.removeAllListeners('exit');
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await gone;
  };
  const fault = (name: string, kind: string, on: boolean): Promise<unknown> =>
    fetch(`http://127.0.0.1:${ports[name]}/fault?kind=${kind}&on=${on ? 1 : 0}`);

  let prom: Peer | undefined;
  let am: Peer | undefined;
  let svc: Awaited<ReturnType<typeof startService>> | undefined;
  let load: NodeJS.Timeout | undefined;
  try {
    await Promise.all(names.map((n) => startChild(n)));
    const annotatorPort = await freePort();
    am = await startAlertmanager(
      [
        'route:',
        '  receiver: annotator',
        '  group_by: [alertname, service]',
        '  group_wait: 1s',
        '  group_interval: 5s',
        '  repeat_interval: 4h',
        'receivers:',
        '  - name: annotator',
        '    webhook_configs:',
        `      - url: http://127.0.0.1:${annotatorPort}/webhook/alertmanager`,
        '        send_resolved: true',
        '        http_config:',
        '          authorization:',
        `            credentials: ${TOKEN}`,
        '',
      ].join('\n'),
    );
    // 30 s rate windows: on a loaded machine a scrape or two goes missing, and a 15 s window then
    // held too few samples for the rule to see the fault (it did not fire for some faults).
    const rules = `groups:
  - name: lab
    interval: 1s
    rules:
      - alert: FrontendErrors
        expr: sum by (service) (rate(lab_http_requests_total{service="frontend",code="500"}[30s])) / sum by (service) (rate(lab_http_requests_total{service="frontend"}[30s])) > 0.05
        for: 5s
        labels: { severity: critical }
      - alert: FrontendLatency
        expr: histogram_quantile(0.9, sum by (service, le) (rate(lab_http_request_duration_seconds_bucket{service="frontend"}[30s]))) > 0.2
        for: 5s
        labels: { severity: warning }
      - alert: MemoryGrowing
        expr: deriv(process_resident_memory_bytes{job="lab"}[1m]) > 1e6
        for: 15s
        labels: { severity: warning }
`;
    prom = await startPrometheus(
      `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:${am.port}']
scrape_configs:
  - job_name: lab
    static_configs:
      - targets: [${names.map((n) => `'127.0.0.1:${ports[n]}'`).join(', ')}]
`,
      { 'rules.yml': rules },
    );
    svc = await startService(
      loadConfig({
        PORT: String(annotatorPort),
        ROLE: 'all',
        WEBHOOK_BEARER_TOKEN: TOKEN,
        QUEUE_PREFIX: `lab-${process.pid}`,
        PROMETHEUS_URL: prom.url,
        LOKI_URL: loki.url,
        TEMPO_URL: tempo.url,
        ALERTMANAGER_URL: am.url,
        LLM_PROVIDER: 'none',
        BASELINE_WINDOW_MIN: String(BASELINE_MIN),
        INCIDENT_LEAD_MIN: String(LEAD_MIN),
        LOG_LEVEL: 'warn',
      }),
    );

    // Load: about 20 requests a second at the front door.
    load = setInterval(() => void fetch(`http://127.0.0.1:${ports.frontend}/`).catch(() => undefined), 50);
    // A whole baseline window (and the lead) of normal traffic before the first fault.
    const warmup = Number(process.env.LAB_WARMUP_S ?? (BASELINE_MIN + LEAD_MIN) * 60 - 30);
    console.log(`pause between faults ${PAUSE_S} s (baseline ${BASELINE_MIN} min + lead ${LEAD_MIN} min)`);
    console.log(`lab up in ${((Date.now() - t0) / 1000).toFixed(0)} s; warming up ${warmup} s`);
    await sleep(warmup * 1000);

    const faults: Fault[] = [
      {
        name: 'cpu burn (inventory)',
        culprits: ['inventory'],
        on: () => fault('inventory', 'cpu', true).then(),
        off: () => fault('inventory', 'cpu', false).then(),
      },
      {
        name: 'memory leak (cart)',
        culprits: ['cart'],
        on: () => fault('cart', 'leak', true).then(),
        off: () => fault('cart', 'leak', false).then(),
      },
      {
        name: 'added latency (cart)',
        culprits: ['cart'],
        on: () => fault('cart', 'latency', true).then(),
        off: () => fault('cart', 'latency', false).then(),
      },
      {
        name: 'error injection (inventory)',
        culprits: ['inventory'],
        on: () => fault('inventory', 'errors', true).then(),
        off: () => fault('inventory', 'errors', false).then(),
      },
      {
        name: 'postgres pool exhaustion (inventory)',
        culprits: ['inventory', 'postgresql', 'postgresql test', 'test'],
        on: () => fault('inventory', 'pool', true).then(),
        off: async () => {
          await stopChild('inventory');
          await startChild('inventory');
        },
      },
      {
        name: 'slow query (inventory)',
        culprits: ['inventory', 'postgresql', 'postgresql test', 'test'],
        on: () => fault('inventory', 'slowquery', true).then(),
        off: () => fault('inventory', 'slowquery', false).then(),
      },
      { name: 'redis down (cart)', culprits: ['cart', 'redis'], on: stopRedis, off: startRedis },
      {
        name: 'bad deploy (checkout)',
        culprits: ['checkout'],
        on: async () => {
          await stopChild('checkout');
          await startChild('checkout', { VERSION: '2.0.0', BAD_DEPLOY: '1' });
        },
        off: async () => {
          await stopChild('checkout');
          await startChild('checkout');
        },
      },
    ].filter((f) => !process.env.LAB_FAULTS || process.env.LAB_FAULTS.split(',').some((x) => f.name.startsWith(x)));

    const rows: { fault: string; suspects: string; confidence: string; at1: boolean; at3: boolean; minutes: number | null }[] = [];
    for (const f of faults) {
      const seen = loki.records().length;
      const injected = Date.now();
      await f.on();
      let rec: Record<string, unknown> | undefined;
      while (Date.now() - injected < 120_000 && !rec) {
        await sleep(1000);
        rec = loki
          .records()
          .slice(seen)
          .find((r) => r.status === 'firing');
      }
      const suspects = ((rec?.suspects as { service: string }[] | undefined) ?? []).map((s) => s.service);
      const match = (s: string): boolean => f.culprits.some((c) => s === c || s.startsWith(`${c} `) || s.includes(c));
      rows.push({
        fault: f.name,
        suspects: rec ? suspects.slice(0, 3).join(', ') || '(none)' : '(no alert in 2 min)',
        confidence: String(rec?.confidence ?? '-'),
        at1: !!suspects[0] && match(suspects[0]),
        at3: suspects.slice(0, 3).some(match),
        minutes: rec ? (Date.now() - injected) / 60_000 : null,
      });
      console.log(
        JSON.stringify({
          ...rows[rows.length - 1],
          findings: (rec?.findings as { id: string; text: string }[] | undefined)?.slice(0, 6).map((x) => `${x.id} ${x.text}`),
        }),
      );
      await f.off();
      // Let the alerts resolve, then stay calm for a baseline window: the next fault's baseline
      // must hold none of this one (on a loaded machine, a short pause left it in).
      const calm = Date.now();
      while (Date.now() - calm < 120_000) {
        const firing = (await (await fetch(`${am.url}/api/v2/alerts?active=true`)).json()) as unknown[];
        if (firing.length === 0 && Date.now() - calm > 15_000) break;
        await sleep(2000);
      }
      if (f !== faults[faults.length - 1]) await sleep(PAUSE_S * 1000);
    }
    console.log('\nfault | top suspects | confidence | AC@1 | AC@3 | minutes to record');
    for (const r of rows)
      console.log(`${r.fault} | ${r.suspects} | ${r.confidence} | ${r.at1 ? 1 : 0} | ${r.at3 ? 1 : 0} | ${r.minutes?.toFixed(1) ?? '-'}`);
    const n = rows.length || 1;
    console.log(
      `\nAC@1 ${(rows.filter((r) => r.at1).length / n).toFixed(2)}  AC@3 ${(rows.filter((r) => r.at3).length / n).toFixed(2)}  over ${rows.length} faults; total ${((Date.now() - t0) / 60_000).toFixed(1)} min`,
    );
  } finally {
    clearInterval(load);
    await svc?.shutdown().catch(() => undefined);
    await prom?.stop().catch(() => undefined);
    await am?.stop().catch(() => undefined);
    for (const n of children.keys()) await stopChild(n).catch(() => undefined);
    await stopRedis();
    for (const s of stops) await s().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
