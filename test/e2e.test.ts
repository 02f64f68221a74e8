import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAME } from '../src/queue/job';
import { sampleSum, startAlertmanager, startPrometheus, type Peer } from './e2e/peers';
import { REPO_ROOT, start, stopAll, until, waitHttpOk, type Started } from './e2e/process';
import { FakeHttpServer, type FakeReply, type RecordedRequest } from './fakes/http';
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
 * and the resolve goes through to Loki and Slack. The Alertmanagers reach the service through
 * a relay in this process that records each delivery and passes it on unchanged.
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
const alertmanagerConfig = (webhookBase: string) => `
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
      - url: ${webhookBase}/webhook/alertmanager
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials: ${TOKEN}
`;

/** One notification the relay passed on, and what became of its job when it waited for it. */
interface Delivery {
  externalURL: string;
  at: number;
  status: number;
  jobId?: string;
  /** Set for deliveries made while the queue forgets finished jobs. */
  job?: { createdAt: number; state: string; receipt: unknown };
}

/**
 * Passes Alertmanager's webhook requests on to the service unchanged and records them. With
 * `forget` on, it takes them one at a time: it removes finished jobs from the queue first,
 * as BullMQ does an hour after they finish, then waits for the delivery's job to finish.
 */
class WebhookRelay extends FakeHttpServer {
  readonly deliveries: Delivery[] = [];
  forget = false;
  private turn: Promise<unknown> = Promise.resolve();
  constructor(
    private readonly target: () => string,
    private readonly queue: Queue,
  ) {
    super((req) => this.pass(req));
  }

  private pass(req: RecordedRequest): Promise<FakeReply> {
    if (!this.forget) return this.forward(req);
    const mine = this.turn.then(async () => {
      await this.queue.clean(0, 1000, 'completed');
      return this.forward(req, true);
    });
    this.turn = mine.catch(() => undefined);
    return mine;
  }

  private async forward(req: RecordedRequest, waitForJob = false): Promise<FakeReply> {
    const delivery: Delivery = {
      externalURL: (req.json as { externalURL?: string } | undefined)?.externalURL ?? '',
      at: Date.now(),
      status: 0,
    };
    this.deliveries.push(delivery);
    const headers: Record<string, string> = {};
    for (const h of ['authorization', 'content-type', 'user-agent']) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const res = await fetch(`${this.target()}${req.path}`, { method: req.method, headers, body: req.body });
    const text = await res.text();
    delivery.status = res.status;
    delivery.jobId = (JSON.parse(text) as { jobId?: string }).jobId;
    if (waitForJob && delivery.jobId) {
      const id = delivery.jobId;
      const state = await until(`job ${id} to finish`, async () => {
        const st = await this.queue.getJobState(id);
        return st === 'completed' || st === 'failed' ? st : undefined;
      });
      // Read after it finished: a job read while active has no return value yet.
      const job = await this.queue.getJob(id);
      delivery.job = { createdAt: job?.timestamp ?? 0, state, receipt: job?.returnvalue as unknown };
    }
    return { status: res.status, headers: { 'Content-Type': res.headers.get('content-type') ?? 'application/json' }, body: text };
  }
}

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
  let svcUrl = '';
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE_NAME, { connection: queueRedis, prefix: PREFIX });
  const relay = new WebhookRelay(() => svcUrl, queue);

  const records = (): Rec[] => loki.records() as unknown as Rec[];
  const diagnostics = () =>
    [
      `service:\n${service?.output().slice(-2500) ?? ''}`,
      `alertmanagers:\n${alertmanagers.map((a) => a.proc.output().slice(-1000)).join('\n')}`,
      `loki records: ${JSON.stringify(records().map((r) => [r.alertname, r.status, r.fingerprint]))}`,
      `slack messages: ${JSON.stringify(slack?.messages.map((m) => [m.ts, m.threadTs ?? null, m.updates, m.text]))}`,
      `deliveries: ${JSON.stringify(relay.deliveries.slice(-10))}`,
    ].join('\n');
  /** One metric from each Alertmanager. */
  const amMetric = async (name: string, labels: Record<string, string>) =>
    Promise.all(alertmanagers.map(async (am) => sampleSum(await (await fetch(`${am.url}/metrics`)).text(), name, labels)));

  beforeAll(async () => {
    loki = await new FakeLoki().start();
    otlp = await new FakeOtlpReceiver().start();
    slack = await new FakeSlack().start();
    ollama = await new FakeOllama([MODEL]).start();
    await relay.start();

    const demoPort = await freePort();
    // The demo pushes its logs to (fake) Loki, where the service's log source finds them.
    demo = start(process.execPath, [join(REPO_ROOT, 'deploy/demo/server.js')], {
      env: { PORT: String(demoPort), HOST: '127.0.0.1', DEMO_MODE: 'ok', LOKI_URL: loki.url },
    });
    demoUrl = `http://127.0.0.1:${demoPort}`;
    await waitHttpOk(`${demoUrl}/-/healthy`, demo, 10_000);

    const svcPort = await freePort();
    svcUrl = `http://127.0.0.1:${svcPort}`;
    for (let i = 0; i < 2; i++) alertmanagers.push(await startAlertmanager(alertmanagerConfig(relay.url)));
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
    await Promise.all([loki?.stop(), otlp?.stop(), slack?.stop(), ollama?.stop(), relay.stop()]);
    await queue.close();
    await deleteKeys(queueRedis, PREFIX).finally(() => queueRedis.disconnect());
  }, 60_000);

  it('a misbehaving target fires the rule and the alert reaches Loki as a narrated record and Slack as a message', async () => {
    await fetch(`${demoUrl}/misbehave?mode=errors`, { method: 'POST' });
    // The deterministic note's record comes first, the model's note follows as a second record.
    firing = await until(
      'a narrated firing record in Loki',
      () => records().find((r) => r.alertname === ALERT && r.status === 'firing' && r.narrator === `ollama:${MODEL}`),
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
    // Each member of the pair sends its own externalURL, so the two deliveries differ.
    const urls = await until(
      'a notification from each Alertmanager',
      () => {
        const seen = new Set(relay.deliveries.map((d) => d.externalURL));
        return alertmanagers.every((am) => seen.has(am.url)) ? seen : undefined;
      },
      15_000,
      diagnostics,
    );
    expect([...urls].sort()).toEqual(alertmanagers.map((am) => am.url).sort());

    // The receiver gives an identical notification the same job id, and BullMQ keeps a
    // finished job for an hour. Alertmanager repeats far less often (repeat_interval 4h in
    // alertmanager/alertmanager.yml), so in production each repeat is a new job and only
    // dedup stands between it and a second note. The relay forgets finished jobs before
    // each delivery, so every repeat of both members here meets the pipeline as a new job.
    relay.forget = true;
    const repeats = await until(
      'two repeats from each Alertmanager, each run as a new job',
      () => {
        const done = relay.deliveries.filter((d) => d.job);
        return alertmanagers.every((am) => done.filter((d) => d.externalURL === am.url).length >= 2) ? done : undefined;
      },
      30_000,
      diagnostics,
    );
    relay.forget = false;
    for (const d of repeats) {
      expect({ from: d.externalURL, status: d.status, state: d.job!.state }).toEqual({
        from: d.externalURL,
        status: 200,
        state: 'completed',
      });
      // A new job, created for this delivery: not the one BullMQ still knew by its id.
      expect(d.job!.createdAt).toBeGreaterThanOrEqual(d.at);
      // The pipeline ran, and dedup found the alert annotated.
      expect(d.job!.receipt).toMatchObject({ annotated: 0, skipped: 1 });
    }
    const same = records().filter((r) => r.fingerprint === firing.fingerprint && r.startsAt === firing.startsAt && r.status === 'firing');
    expect(same.map((r) => r.narrator)).toEqual(['template', `ollama:${MODEL}`]);
    expect(ollama.chats()).toHaveLength(1);
    expect(slack.topLevel()).toHaveLength(1);
  }, 60_000);

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
    // The deterministic note is the group job's trace; the model's note is the narration job's.
    const note = records().find((r) => r.fingerprint === firing.fingerprint && r.status === 'firing' && r.narrator === 'template')!;
    const root = await otlp.waitFor((s) => s.name === 'alert.annotate' && s.traceId === note.traceId, 15_000);
    expect(root.serviceName).toBe('alert-annotator-e2e');
    expect(root.parentSpanId).toBeUndefined();
    expect(String(root.attributes['alert.fingerprint'])).toContain(firing.fingerprint);
    expect(root.attributes).toMatchObject({ 'alert.name': ALERT, 'alert.group_key': firing.groupKey });
    expect(firing.traceId).not.toBe(note.traceId);

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
      .filter((l) => l.trace_id === note.traceId);
    expect(logged.length).toBeGreaterThan(0);
    expect(logged[0]!.span_id).toMatch(/^[0-9a-f]{16}$/);

    const children = (parent: ReceivedSpan) => otlp.spans.filter((s) => s.parentSpanId === parent.spanId).map((s) => s.name);
    expect(children(root)).toEqual(
      expect.arrayContaining(['dedup', 'gather.prometheus', 'gather.loki', 'analyze', 'scrub', 'publish.slack', 'publish.loki']),
    );
    const narration = await otlp.waitFor((s) => s.name === 'alert.annotate' && s.traceId === firing.traceId, 15_000);
    expect(narration.links).toHaveLength(1);
    expect(narration.links[0]!.traceId).toBe(link.traceId);
    const llm = otlp.spans.filter((s) => s.traceId === firing.traceId && s.name === 'llm.call');
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
