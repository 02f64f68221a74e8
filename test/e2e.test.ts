import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sampleSum, startAlertmanager, startPrometheus, type Peer } from './e2e/peers';
import { REPO_ROOT, start, stopAll, until, waitHttpOk, type Started } from './e2e/process';
import { FakeLoki } from './fakes/loki';
import { FakeOllama } from './fakes/ollama';
import { FakeOtlpReceiver, type ReceivedSpan } from './fakes/otlp';
import { FAKE_SLACK_TOKEN, FakeSlack } from './fakes/slack';
import { deleteKeys, freePort, REDIS_URL } from './helpers/service';

/**
 * End to end with the real peers: the demo target misbehaves, a real Prometheus (Debian's
 * package) fires a rule, and two real Alertmanagers (an HA pair that cannot gossip, so both
 * notify) route it with a bearer token to our service (`alert-annotator serve` as its own
 * process, receiver + worker, real Redis). The service asks a fake Ollama for the narration,
 * writes to fake Loki and fake Slack, and exports its own trace to an in-process OTLP
 * receiver. Then the Alertmanagers repeat the notification, and later the rule stops firing
 * and the resolve goes through to Loki and Slack.
 */

const ALERT = 'E2ECheckoutErrors';
const TOKEN = `e2e-${randomBytes(12).toString('hex')}`;
const PREFIX = `test-e2e-${randomBytes(4).toString('hex')}`;
const MODEL = 'qwen2.5:3b-instruct';

const prometheusConfig = (demoPort: number, amPorts: number[], svcPort: number) => `
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [${amPorts.map((p) => `'127.0.0.1:${p}'`).join(', ')}]
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ['127.0.0.1:${demoPort}']
  - job_name: alert-annotator
    static_configs:
      - targets: ['127.0.0.1:${svcPort}']
`;

// Fires on the first evaluation after the demo misbehaves (for: 0s); severity critical so the
// critical route takes it, as in alertmanager/alertmanager.yml.
const rules = `
groups:
  - name: e2e
    rules:
      - alert: ${ALERT}
        expr: demo_checkout_error_ratio > 0.05
        labels:
          severity: critical
        annotations:
          summary: Checkout error ratio above 5%
          runbook_url: https://runbooks.example.com/checkout/errors
`;

// Short timers so a repeat notification arrives within seconds
// (https://prometheus.io/docs/alerting/latest/configuration/#route).
const alertmanagerConfig = (svcPort: number) => `
route:
  receiver: annotator
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 3s
  routes:
    - receiver: annotator
      matchers: ['severity="critical"']
receivers:
  - name: annotator
    webhook_configs:
      - url: http://127.0.0.1:${svcPort}/webhook/alertmanager
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials: ${TOKEN}
`;

interface Rec {
  fingerprint: string;
  startsAt: string;
  endsAt: string;
  status: string;
  alertname: string;
  severity: string;
  labels: Record<string, string>;
  groupKey: string;
  summary: string;
  traceId: string;
  narrator: string;
  findings: { id: string; kind: string; text: string }[];
}

describe('end to end: real Prometheus and Alertmanager drive the service', () => {
  let loki: FakeLoki;
  let otlp: FakeOtlpReceiver;
  let slack: FakeSlack;
  let ollama: FakeOllama;
  let demo: Started;
  let demoUrl: string;
  let service: Started;
  let prometheus: Peer | undefined;
  // Two Alertmanagers that both notify, as an HA pair does when its members cannot see each
  // other: every notification reaches the service twice.
  const alertmanagers: Peer[] = [];
  let firing: Rec;

  const records = (): Rec[] => loki.records() as unknown as Rec[];
  const diagnostics = () =>
    [
      `service:\n${service?.output().slice(-2500) ?? ''}`,
      `alertmanagers:\n${alertmanagers.map((a) => a.proc.output().slice(-1000)).join('\n')}`,
      `loki records: ${JSON.stringify(records().map((r) => [r.alertname, r.status, r.fingerprint]))}`,
      `slack messages: ${JSON.stringify(slack?.messages.map((m) => [m.ts, m.threadTs ?? null, m.updates, m.text]))}`,
    ].join('\n');
  /** One metric from each Alertmanager. */
  const amMetric = async (name: string, labels: Record<string, string>) =>
    Promise.all(alertmanagers.map(async (am) => sampleSum(await (await fetch(`${am.url}/metrics`)).text(), name, labels)));

  beforeAll(async () => {
    loki = await new FakeLoki().start();
    otlp = await new FakeOtlpReceiver().start();
    slack = await new FakeSlack().start();
    ollama = await new FakeOllama([MODEL]).start();

    const demoPort = await freePort();
    // The demo pushes its logs to (fake) Loki, where the service's log source finds them.
    demo = start(process.execPath, [join(REPO_ROOT, 'deploy/demo/server.js')], {
      env: { PORT: String(demoPort), HOST: '127.0.0.1', DEMO_MODE: 'ok', LOKI_URL: loki.url },
    });
    demoUrl = `http://127.0.0.1:${demoPort}`;
    await waitHttpOk(`${demoUrl}/-/healthy`, demo, 10_000);

    const svcPort = await freePort();
    for (let i = 0; i < 2; i++) alertmanagers.push(await startAlertmanager(alertmanagerConfig(svcPort)));
    prometheus = await startPrometheus(
      prometheusConfig(
        demoPort,
        alertmanagers.map((a) => a.port),
        svcPort,
      ),
      { 'rules.yml': rules },
    );

    service = start(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli.ts'), 'serve'], {
      env: {
        PORT: String(svcPort),
        ROLE: 'all',
        REDIS_URL,
        QUEUE_PREFIX: PREFIX,
        WEBHOOK_BEARER_TOKEN: TOKEN,
        LOKI_URL: loki.url,
        PROMETHEUS_URL: prometheus.url,
        LLM_PROVIDER: 'ollama',
        OLLAMA_HOST: ollama.url,
        OLLAMA_MODEL: MODEL,
        SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
        SLACK_CHANNEL: 'C0ALERTS',
        SLACK_API_URL: `${slack.url}/api`,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_SERVICE_NAME: 'alert-annotator-e2e',
        JOB_BACKOFF_MS: '200',
        LOG_LEVEL: 'info',
      },
    });
    await waitHttpOk(`http://127.0.0.1:${svcPort}/-/ready`, service, 30_000);
  }, 90_000);

  afterAll(async () => {
    // Our service first (SIGTERM: a graceful stop that also flushes its spans), then the peers.
    await stopAll();
    await Promise.all([prometheus?.stop(), ...alertmanagers.map((a) => a.stop())]);
    await Promise.all([loki?.stop(), otlp?.stop(), slack?.stop(), ollama?.stop()]);
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    await deleteKeys(redis, PREFIX).finally(() => redis.disconnect());
  }, 60_000);

  it('a misbehaving target fires the rule and the alert reaches Loki as a narrated record and Slack as a message', async () => {
    await fetch(`${demoUrl}/misbehave?mode=errors`, { method: 'POST' });
    firing = await until(
      'a firing record in Loki',
      () => records().find((r) => r.alertname === ALERT && r.status === 'firing'),
      45_000,
      diagnostics,
    );
    expect(firing).toMatchObject({
      severity: 'critical',
      endsAt: '0001-01-01T00:00:00Z',
      labels: { alertname: ALERT, service: 'checkout', job: 'demo', severity: 'critical' },
      narrator: `ollama:${MODEL}`,
    });
    expect(firing.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(firing.groupKey).toContain(ALERT);
    expect(firing.summary).not.toBe('');
    // Evidence gathered for real: the demo's error lines, found in Loki by the service label.
    expect(firing.findings).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'log', text: expect.stringContaining('payment provider call failed') })]),
    );
    expect(firing.traceId).toMatch(/^[0-9a-f]{32}$/);
    // Alertmanager delivered with the bearer token: not one webhook notification failed.
    expect(await amMetric('alertmanager_notifications_failed_total', { integration: 'webhook' })).toEqual([0, 0]);
    // Slack: one message in the channel, published before the Loki record (Loki is written last).
    const top = slack.topLevel();
    expect(top).toHaveLength(1);
    expect(top[0]).toMatchObject({ channel: 'C0ALERTS' });
    expect(JSON.stringify(top[0]!.blocks ?? top[0]!.text)).toContain(ALERT);
    expect(ollama.chats()).toHaveLength(1);
  }, 60_000);

  it("Alertmanager's repeat notifications, from both members of the pair, cause no second narration, record or Slack message", async () => {
    const delivered = await until(
      'two repeat notifications from each Alertmanager',
      async () => {
        const n = await amMetric('alertmanager_notifications_total', { integration: 'webhook' });
        return n.every((x) => x >= 3) ? n : undefined;
      },
      30_000,
      diagnostics,
    );
    expect(Math.min(...delivered)).toBeGreaterThanOrEqual(3);
    // Let the worker finish whatever the last repeat enqueued.
    await new Promise((r) => setTimeout(r, 1500));
    const same = records().filter((r) => r.fingerprint === firing.fingerprint && r.startsAt === firing.startsAt && r.status === 'firing');
    expect(same).toHaveLength(1);
    expect(ollama.chats()).toHaveLength(1);
    expect(slack.topLevel()).toHaveLength(1);
  }, 45_000);

  it('when the rule stops firing, the resolve reaches Loki and the Slack message of the alert', async () => {
    await fetch(`${demoUrl}/behave`, { method: 'POST' });
    const resolved = await until(
      'a resolved record in Loki',
      () => records().find((r) => r.fingerprint === firing.fingerprint && r.status === 'resolved'),
      45_000,
      diagnostics,
    );
    expect(resolved.startsAt).toBe(firing.startsAt);
    expect(Date.parse(resolved.endsAt)).toBeGreaterThan(Date.parse(firing.startsAt));
    expect(records().filter((r) => r.fingerprint === firing.fingerprint && r.status === 'resolved')).toHaveLength(1);
    // Slack: the original message is updated in place (no new top-level message) and the
    // thread says it resolved.
    const [message] = slack.topLevel();
    expect(slack.topLevel()).toHaveLength(1);
    expect(message!.updates).toBeGreaterThanOrEqual(1);
    expect(
      slack
        .replies(message!.ts)
        .map((r) => JSON.stringify(r.blocks ?? r.text))
        .join('\n'),
    ).toMatch(/resolved/i);
    // resolving is not narrated
    expect(ollama.chats()).toHaveLength(1);
  }, 60_000);

  it("the record's traceId is the service's own trace: alert.annotate linked to the webhook request, with the stage spans", async () => {
    const root = await otlp.waitFor((s) => s.name === 'alert.annotate' && s.traceId === firing.traceId, 15_000);
    expect(root.serviceName).toBe('alert-annotator-e2e');
    expect(root.parentSpanId).toBeUndefined();
    expect(String(root.attributes['alert.fingerprint'])).toContain(firing.fingerprint);
    expect(root.attributes).toMatchObject({ 'alert.name': ALERT, 'alert.group_key': firing.groupKey });

    // The link points into the trace of the POST that Alertmanager made.
    expect(root.links).toHaveLength(1);
    const link = root.links[0]!;
    const request = await otlp.waitFor((s) => s.traceId === link.traceId && s.parentSpanId === undefined, 15_000);
    expect(request.name).toBe('POST /webhook/alertmanager');
    expect(request.attributes['http.route']).toBe('/webhook/alertmanager');
    expect(request.attributes['user_agent.original'] ?? request.attributes['http.user_agent']).toMatch(/^Alertmanager\//);
    expect(otlp.spans.some((s) => s.traceId === link.traceId && s.spanId === link.spanId)).toBe(true);

    // The worker's log lines inside that span carry its ids (pino mixin).
    const logged = service
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.trace_id === firing.traceId);
    expect(logged.length).toBeGreaterThan(0);
    expect(logged[0]!.span_id).toMatch(/^[0-9a-f]{16}$/);

    const children = (parent: ReceivedSpan) => otlp.spans.filter((s) => s.parentSpanId === parent.spanId).map((s) => s.name);
    expect(children(root)).toEqual(
      expect.arrayContaining(['dedup', 'gather.prometheus', 'gather.loki', 'analyze', 'scrub', 'publish.slack', 'publish.loki']),
    );
    const llm = otlp.spans.filter((s) => s.traceId === root.traceId && s.name === 'llm.call');
    expect(llm).toHaveLength(1);
    expect(llm[0]!.attributes).toMatchObject({ 'llm.provider': 'ollama', 'llm.model': MODEL, 'llm.attempt': 1, 'llm.parse_ok': true });
    expect(llm[0]!.attributes['llm.prompt_chars']).toEqual(expect.any(Number));
    expect(llm[0]!.attributes['llm.response_chars']).toEqual(expect.any(Number));
  }, 30_000);

  it("every PromQL query of the dashboard runs on the real Prometheus, which scrapes the service's /metrics", async () => {
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'grafana/dashboards/alert-annotations.json'), 'utf8')) as {
      panels: { title: string; datasource?: { uid?: string }; targets?: { expr?: string }[] }[];
    };
    const exprs = dashboard.panels
      .filter((p) => p.datasource?.uid === 'prometheus')
      .flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr ?? '' })));
    expect(exprs.length).toBeGreaterThanOrEqual(6);
    // Grafana's variables, as Grafana would substitute them.
    const substitute = (e: string) => e.replaceAll('$__rate_interval', '1m').replaceAll('$alertname', '.+').replaceAll('$severity', '.+');
    const query = async (expr: string) => {
      const res = await fetch(`${prometheus!.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      return { status: res.status, body: (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } } };
    };
    for (const { title, expr } of exprs) {
      const { status, body } = await query(substitute(expr));
      expect({ title, status, error: body.error }).toEqual({ title, status: 200, error: undefined });
    }
    // Prometheus scraped the webhook counter of the service with the 200s Alertmanager got.
    const scraped = await until(
      'the scraped webhook counter',
      async () => {
        const { body } = await query('sum(alert_annotator_webhook_requests_total{job="alert-annotator", code="200"})');
        const v = Number((body.data?.result[0] as { value?: [number, string] } | undefined)?.value?.[1] ?? 0);
        return v >= 6 ? v : undefined;
      },
      15_000,
    );
    expect(scraped).toBeGreaterThanOrEqual(6);
  }, 30_000);
});
