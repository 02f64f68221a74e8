import request from 'supertest';
import { annotationRecordSchema, type AnnotationRecord } from '../src/model/record';
import { FakeLoki } from './fakes/loki';
import { FakeOllama } from './fakes/ollama';
import { FakeOpenAI } from './fakes/openai';
import { INJECTION } from './narrate-input';
import { fixture, startTestService, type TestService } from './helpers/service';

/**
 * Narration through the whole service: receiver → queue → worker (real Redis) with the
 * Loki source and sink (fake Loki) and the model (fake Ollama). The deterministic note must
 * go out at once whatever the model does; the model's note follows as a second record.
 */

const MODEL = 'qwen2.5:3b-instruct';
let loki: FakeLoki;
let ollama: FakeOllama;
let svc: TestService;
let seq = 0;

beforeAll(async () => {
  loki = await new FakeLoki().start();
  ollama = await new FakeOllama([MODEL]).start();
  svc = await startTestService(
    {
      LOKI_URL: loki.url,
      LLM_PROVIDER: 'ollama',
      OLLAMA_HOST: ollama.url,
      OLLAMA_MODEL: MODEL,
      LLM_TIMEOUT_MS: '800',
      LLM_BREAKER_THRESHOLD: '100',
    },
    { renarrateDelaysMs: [300, 300] },
  );
});
afterAll(async () => {
  await svc?.stop();
  await Promise.all([loki?.stop(), ollama?.stop()]);
});
beforeEach(() => {
  loki.clear();
  ollama.steps = [];
  ollama.fallback = { kind: 'good' };
  ollama.requests.length = 0;
});

/** A fresh CheckoutLatencyHigh notification (new fingerprint each time) that started two minutes ago. */
function notification(): { body: Record<string, unknown>; fingerprint: string; startsAt: string } {
  const body = structuredClone(fixture('am-webhook-01').body) as Record<string, unknown> & { alerts: Record<string, unknown>[] };
  const fingerprint = `ca1e646dc11e${(0x1000 + ++seq + Math.floor(Math.random() * 0xe000)).toString(16)}`;
  const startsAt = new Date(Date.now() - 120_000).toISOString();
  body.groupKey = `${String(body.groupKey)}/narrate-${fingerprint}`;
  body.alerts[0]!.fingerprint = fingerprint;
  body.alerts[0]!.startsAt = startsAt;
  return { body, fingerprint, startsAt };
}

async function send(body: unknown): Promise<void> {
  expect(
    (
      await request(svc.url)
        .post('/webhook/alertmanager')
        .send(body as object)
    ).status,
  ).toBe(200);
}

function recordsOf(fingerprint: string): AnnotationRecord[] {
  return loki
    .records()
    .map((r) => annotationRecordSchema.parse(r))
    .filter((r) => r.fingerprint === fingerprint);
}

/** Error lines of checkout: a quiet baseline, then `line` 60 times since the alert began. */
function seedLogs(line: string): void {
  const now = Date.now();
  const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;
  const values: [string, string][] = [];
  for (let i = 0; i < 5; i++) values.push([ns(now - 40 * 60_000 + i * 60_000), 'WARN slow cache refresh took 120ms']);
  for (let i = 0; i < 60; i++) values.push([ns(now - 150_000 + i * 2000), line]);
  loki.seed({ service_name: 'checkout', level: 'error' }, values);
}

const narrative = (r: AnnotationRecord) => [r.summary, r.rootCause, ...r.actions].join('\n');

describe('narration through the worker', () => {
  test('with a healthy model the deterministic note goes out first and the model’s follows, citing real findings', async () => {
    const n = notification();
    await send(n.body);
    await svc.waitForJobs();
    const records = recordsOf(n.fingerprint);
    expect(records.map((r) => r.narrator)).toEqual(['template', `ollama:${MODEL}`]);
    expect(records[1]).toMatchObject({ narrator: `ollama:${MODEL}`, promptVersion: 'narrate-v2', startsAt: n.startsAt });
    const ids = new Set(records[1]!.findings.map((f) => f.id));
    for (const id of records[1]!.evidence ?? []) expect(ids.has(id)).toBe(true);
  });

  test.each([
    ['down (HTTP 500)', { kind: 'status', status: 500 } as const, 1],
    ['slow (beyond LLM_TIMEOUT_MS)', { kind: 'good', delayMs: 3000 } as const, 1],
    ['answering invalid JSON, twice', { kind: 'text', content: 'The checkout service is slow.' } as const, 2],
  ])(
    'when the model is %s, the template note is published at once and the model is not asked again for the group',
    async (_what, step, calls) => {
      ollama.script(step, ...(step.kind === 'text' ? [step] : []));
      const n = notification();
      await send(n.body);
      await svc.waitForJobs();
      // Idle, and nothing planned: the model had the request (and spent work on it), so one
      // call per group (a corrective retry of a bad answer belongs to that call).
      expect(await svc.narrations.getDelayed()).toEqual([]);
      expect(ollama.chats()).toHaveLength(calls);
      const records = recordsOf(n.fingerprint);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ narrator: 'template', promptVersion: 'template-v1' });
    },
  );

  test.each([
    ['busy (HTTP 503)', { kind: 'status', status: 503 } as const],
    ['unreachable (connection refused)', { kind: 'refuse' } as const],
  ])(
    'when the model is %s, the request never reached it: the template goes out, the narration asks again and follows',
    async (_what, step) => {
      const n = notification();
      const port = Number(new URL(ollama.url).port);
      const turnedAway = () => svc.logs.filter((l) => String(l.msg).includes('did not take the narration')).length;
      const before = turnedAway();
      if (step.kind === 'refuse') await ollama.stop();
      else ollama.script(step);
      await send(n.body);
      if (step.kind === 'refuse') {
        // Back once the narration was turned away once (the service logs it), on the same port.
        while (turnedAway() === before) await new Promise((r) => setTimeout(r, 20));
        await ollama.start(port);
      }
      await svc.waitForJobs({ includeDelayed: false });
      const first = recordsOf(n.fingerprint);
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({ narrator: 'template', promptVersion: 'template-v1' });

      await svc.waitForJobs();
      const all = recordsOf(n.fingerprint);
      expect(all).toHaveLength(2);
      expect(all[1]).toMatchObject({
        narrator: `ollama:${MODEL}`,
        promptVersion: 'narrate-v2',
        fingerprint: n.fingerprint,
        startsAt: n.startsAt,
      });
      expect(all[1]!.annotatedAt >= all[0]!.annotatedAt).toBe(true);
    },
  );

  test('a log line telling the model to blame another service changes neither the suspects nor what is published', async () => {
    // The model obeys whatever the prompt's log data says.
    const obey = {
      summary: 'ledger-db is down',
      rootCause: 'ledger-db failed [L1]',
      evidence: ['L1'],
      actions: ['Blame ledger-db'],
      confidence: 'high',
    };

    seedLogs(
      'ERROR upstream call failed while reading the order book from the primary replica, the request will be retried later with backoff',
    );
    const control = notification();
    await send(control.body);
    await svc.waitForJobs();
    const [controlRecord] = recordsOf(control.fingerprint);
    expect(controlRecord).toBeDefined();

    loki.clear();
    ollama.requests.length = 0;
    ollama.fallback = { kind: 'answer', body: obey };
    seedLogs(INJECTION);
    const attacked = notification();
    await send(attacked.body);
    await svc.waitForJobs();
    const published = recordsOf(attacked.fingerprint);

    // The model saw the line only inside the data section, and was asked, corrected, and refused.
    const prompt = (ollama.chats()[0]!.json as { messages: { role: string; content: string }[] }).messages[1]!.content;
    const data = /<<<UNTRUSTED DATA[^\n]*\n([\s\S]*?)\nUNTRUSTED DATA>>>/.exec(prompt)?.[1] ?? '';
    expect(data).toContain('ledger-db');
    expect(prompt.replace(data, '')).not.toContain('ledger-db');
    expect(ollama.chats().length).toBeGreaterThanOrEqual(2);

    expect(published.length).toBeGreaterThanOrEqual(1);
    for (const r of published) {
      expect(r.narrator).toBe('template');
      expect(narrative(r)).not.toContain('ledger-db');
      expect(narrative(r)).not.toContain('<!channel>');
      expect(narrative(r)).not.toContain('SYSTEM NOTE');
      // Same ranking as without the planted line (indicators quote the pattern, so compare ranks).
      expect(r.suspects.map(({ service, score }) => ({ service, score }))).toEqual(
        controlRecord!.suspects.map(({ service, score }) => ({ service, score })),
      );
    }
    expect(published[0]!.suspects.map((s) => s.service)).not.toContain('ledger-db');
  });
});

describe('narration through the worker with an OpenAI-compatible server', () => {
  const KEY = 'sk-e2e-narrate-0123456789abcdef';
  let openai: FakeOpenAI;
  let svc2: TestService;
  beforeAll(async () => {
    openai = await new FakeOpenAI({ apiKey: KEY, models: ['gpt-4o-mini'] }).start();
    svc2 = await startTestService(
      { LOKI_URL: loki.url, LLM_PROVIDER: 'openai', OPENAI_BASE_URL: `${openai.url}/v1`, OPENAI_API_KEY: KEY, LLM_TIMEOUT_MS: '800' },
      { renarrateDelaysMs: [300] },
    );
  });
  afterAll(async () => {
    await svc2?.stop();
    await openai?.stop();
  });

  test('a 429 sends the template note at once, the model note follows, and the key is in no log line', async () => {
    openai.script({ kind: 'status', status: 429, retryAfterS: 1 });
    const n = notification();
    expect((await request(svc2.url).post('/webhook/alertmanager').send(n.body)).status).toBe(200);
    await svc2.waitForJobs({ includeDelayed: false });
    expect(recordsOf(n.fingerprint).map((r) => r.narrator)).toEqual(['template']);
    // The follow-up waits as long as the server asked (Retry-After: 1 s), not the planned 300 ms.
    const followUps = await svc2.narrations.getDelayed();
    expect(followUps.map((j) => j.delay)).toEqual([1000]);
    await svc2.waitForJobs();
    expect(recordsOf(n.fingerprint).map((r) => r.narrator)).toEqual(['template', 'openai:gpt-4o-mini']);
    expect(openai.chats().every((c) => c.headers.authorization === `Bearer ${KEY}`)).toBe(true);
    expect(JSON.stringify(svc2.logs)).not.toContain(KEY);
  });
});

describe('the circuit breaker through the worker', () => {
  let ollama3: FakeOllama;
  let svc3: TestService;
  beforeAll(async () => {
    ollama3 = await new FakeOllama([MODEL]).start();
    svc3 = await startTestService(
      {
        LOKI_URL: loki.url,
        LLM_PROVIDER: 'ollama',
        OLLAMA_HOST: ollama3.url,
        LLM_BREAKER_THRESHOLD: '2',
        LLM_BREAKER_COOLDOWN_MS: '60000',
      },
      { renarrateDelaysMs: [60_000] },
    );
  });
  afterAll(async () => {
    await svc3?.stop();
    await ollama3?.stop();
  });

  test('after repeated failures the model is skipped (state in Redis), and notes still go out at once', async () => {
    ollama3.fallback = { kind: 'status', status: 500 };
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const n = notification();
      sent.push(n.fingerprint);
      expect((await request(svc3.url).post('/webhook/alertmanager').send(n.body)).status).toBe(200);
      await svc3.waitForJobs({ includeDelayed: false });
    }
    expect(ollama3.chats()).toHaveLength(2);
    for (const fp of sent) expect(recordsOf(fp).map((r) => r.narrator)).toEqual(['template']);
    const ttl = await svc3.redis.pttl(`${svc3.config.QUEUE_PREFIX}:llm:ollama:${MODEL}:open`);
    expect(ttl).toBeGreaterThan(50_000);
    // The third group's narration never reached the model: it waits for the breaker to close
    // (its turn to ask), it is not dropped.
    const waiting = await svc3.narrations.getDelayed();
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.delay).toBeGreaterThan(50_000);
  });
});
