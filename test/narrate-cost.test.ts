import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import pino from 'pino';
import { NarrationError } from '../src/narrate/errors';
import { MemoryCallBudget, MemoryModelGate, RedisCallBudget, type CallBudget } from '../src/narrate/gate';
import { GuardedNarrator } from '../src/narrate/guard';
import { OllamaModel } from '../src/narrate/ollama';
import { OpenAIModel } from '../src/narrate/openai';
import { loadPromptTemplate } from '../src/narrate/prompt';
import { narratorFooter } from '../src/publish/slack-blocks';
import { FakeOllama } from './fakes/ollama';
import { FakeOpenAI } from './fakes/openai';
import { tokenCounts } from './fakes/llm';
import { deleteKeys, REDIS_URL, uniquePrefix } from './helpers/service';
import { fixturePayload, sampleInput } from './narrate-input';
import { NoDedup } from '../src/dedup';
import { annotateGroup, renarrateGroup } from '../src/pipeline';

const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

const MODEL = 'qwen2.5:3b-instruct';
const log = pino({ level: 'silent' });
const signal = () => new AbortController().signal;

let ollama: FakeOllama;
let openai: FakeOpenAI;
beforeAll(async () => {
  ollama = await new FakeOllama([MODEL]).start();
  openai = await new FakeOpenAI({ models: ['gpt-4o-mini'] }).start();
});
afterAll(async () => {
  await ollama.stop();
  await openai.stop();
});
beforeEach(() => {
  ollama.steps = [];
  ollama.requests.length = 0;
  openai.requests.length = 0;
  exporter.reset();
});

function narrator(client: OllamaModel | OpenAIModel, budget?: CallBudget): GuardedNarrator {
  return new GuardedNarrator({
    client,
    gate: new MemoryModelGate({ maxConcurrency: 2, threshold: 100, cooldownMs: 60_000 }),
    template: loadPromptTemplate('narrate-v1'),
    timeoutMs: 5000,
    maxOutputTokens: 1024,
    log,
    ...(budget ? { budget } : {}),
  });
}
const viaOllama = (budget?: CallBudget) => narrator(new OllamaModel({ host: ollama.url, model: MODEL }), budget);

describe('the cost of a note', () => {
  it("carries Ollama's prompt_eval_count and eval_count into the narration and the llm.call span", async () => {
    const n = await viaOllama().narrate(sampleInput(), signal());
    expect(n.llm).toMatchObject({ calls: 1, promptTokens: tokenCounts(ollama.requests[0]!.json, '').prompt });
    expect(n.llm!.completionTokens).toBeGreaterThan(10);
    expect(n.llm!.ms).toBeGreaterThanOrEqual(0);
    const span = exporter.getFinishedSpans().find((s) => s.name === 'llm.call');
    expect(span?.attributes['llm.prompt_tokens']).toBe(n.llm!.promptTokens);
    expect(span?.attributes['llm.completion_tokens']).toBe(n.llm!.completionTokens);
  });

  it("carries OpenAI's usage into the narration", async () => {
    const n = await narrator(new OpenAIModel({ baseURL: `${openai.url}/v1`, model: 'gpt-4o-mini' })).narrate(sampleInput(), signal());
    const sent = openai.requests[0]!.json;
    expect(n.llm).toMatchObject({ calls: 1, promptTokens: tokenCounts(sent, '').prompt });
    expect(n.llm!.completionTokens).toBeGreaterThan(10);
  });

  it('adds up both calls when the first answer is rejected and corrected', async () => {
    ollama.steps = [{ kind: 'text', content: 'not json' }];
    const n = await viaOllama().narrate(sampleInput(), signal());
    expect(ollama.requests).toHaveLength(2);
    const [first, second] = ollama.requests.map((r) => tokenCounts(r.json, '').prompt) as [number, number];
    expect(n.llm!.calls).toBe(2);
    expect(n.llm!.promptTokens).toBe(first + second);
    // The second prompt holds the first answer and the correction: it costs more than the first.
    expect(second).toBeGreaterThan(first);
  });
});

describe('LLM_MAX_CALLS_PER_HOUR', () => {
  let redis: Redis;
  const prefix = uniquePrefix('llm-cap');
  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('caps calls across workers sharing Redis, in the same hour', async () => {
    const key = `${prefix}:calls-a`;
    const workerA = new RedisCallBudget(redis, key, 3);
    const workerB = new RedisCallBudget(redis, key, 3);
    const taken = [await workerA.take(), await workerB.take(), await workerA.take(), await workerB.take(), await workerA.take()];
    expect(taken).toEqual([true, true, true, false, false]);
    // A refused call is not counted: the hour's counter stays at the cap.
    const [[, stored]] = (await redis
      .multi()
      .get((await redis.keys(`${key}:*`))[0]!)
      .exec()) as [[null, string]];
    expect(stored).toBe('3');
  });

  it('past the cap, the narrator asks no model and says the note is deterministic because of the cap', async () => {
    const budget = new RedisCallBudget(redis, `${prefix}:calls-b`, 1);
    await viaOllama(budget).narrate(sampleInput(), signal());
    const err = await viaOllama(budget)
      .narrate(sampleInput(), signal())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(NarrationError);
    expect((err as NarrationError).reason).toBe('capped');
    expect((err as NarrationError).llm).toEqual({ calls: 0, promptTokens: 0, completionTokens: 0, ms: 0, capped: true });
    expect((err as NarrationError).countsAsFailure).toBe(false);
    expect(ollama.requests).toHaveLength(1);
    expect(narratorFooter({ narrator: 'template', llm: (err as NarrationError).llm })).toContain('LLM_MAX_CALLS_PER_HOUR');
  });

  it('past the cap, the narration record says so, asks no model and plans no further follow-up', async () => {
    const payload = fixturePayload();
    const bundle = { payload, now: '2026-11-21T23:06:03Z', series: [], logs: [], traces: [] };
    const deps = { sources: [], publishers: [], dedup: new NoDedup(), log, narrator: viaOllama(new MemoryCallBudget(0)) };
    // The first note is deterministic and never waits for the model; the narration job follows.
    const outcome = await annotateGroup(payload, deps, signal(), { bundle });
    expect(outcome.records.length).toBeGreaterThan(0);
    expect(outcome.records.every((r) => r.narrator === 'template' && r.llm === undefined)).toBe(true);
    expect(outcome.renarration).toBeDefined();
    // The narration job past the cap: the deterministic note stands, saying why, and it does not
    // throw NarrationPendingError, so no later attempt spends a call.
    const records = await renarrateGroup(outcome.renarration!, deps, signal());
    expect(records.length).toBe(outcome.records.length);
    for (const r of records) {
      expect(r.narrator).toBe('template');
      expect(r.llm).toMatchObject({ calls: 0, capped: true });
    }
    expect(ollama.requests).toHaveLength(0);
  });

  it('counts per clock hour in one process too', async () => {
    let now = Date.parse('2026-11-21T03:59:00Z');
    const budget = new MemoryCallBudget(1, () => now);
    expect([await budget.take(), await budget.take()]).toEqual([true, false]);
    now += 60_000;
    expect(await budget.take()).toBe(true);
  });
});

describe('the footer', () => {
  it.each([
    [
      { calls: 1, promptTokens: 1800, completionTokens: 312, ms: 4100 },
      'AI summary by ollama:qwen2.5:3b · 1 call · 2.1k tokens · verify before acting',
    ],
    [
      { calls: 2, promptTokens: 500, completionTokens: 120, ms: 900 },
      'AI summary by ollama:qwen2.5:3b · 2 calls · 620 tokens · verify before acting',
    ],
    [undefined, 'AI summary by ollama:qwen2.5:3b · verify before acting'],
  ])('names the model, its calls and tokens (%j)', (llm, expected) => {
    expect(narratorFooter({ narrator: 'ollama:qwen2.5:3b', ...(llm ? { llm } : {}) })).toBe(expected);
  });
});
