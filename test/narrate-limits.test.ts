import pino from 'pino';
import { loadConfig } from '../src/config';
import { NarrationError } from '../src/narrate/errors';
import type { Narrator } from '../src/model/narration';
import { buildNarrator } from '../src/wiring';
import { FakeOllama } from './fakes/ollama';
import { FakeOpenAI } from './fakes/openai';
import { narrateFromPrompt } from './fakes/llm';
import { buildPrompt, loadPromptTemplate } from '../src/narrate/prompt';
import { sampleInput } from './narrate-input';

/**
 * Issue 11, finding 3: the model's answer is outside input too. It is capped in tokens on
 * the call and in characters before any parsing, and a code fence comes off with string
 * operations (the old regex took 38 s for a fence followed by 5,000 spaces).
 */

const log = pino({ level: 'silent' });
const MODEL = 'qwen2.5:3b-instruct';
let ollama: FakeOllama;
let openai: FakeOpenAI;

beforeAll(async () => {
  ollama = await new FakeOllama([MODEL]).start();
  openai = await new FakeOpenAI({ apiKey: 'sk-test-limits-0000' }).start();
});
afterAll(async () => {
  await ollama.stop();
  await openai.stop();
});
beforeEach(() => {
  for (const m of [ollama, openai]) {
    m.steps = [];
    m.requests.length = 0;
  }
});

function viaOllama(env: Record<string, string> = {}): Narrator {
  return buildNarrator(loadConfig({ LLM_PROVIDER: 'ollama', OLLAMA_HOST: ollama.url, OLLAMA_MODEL: MODEL, ...env }), log)!;
}
function viaOpenAI(env: Record<string, string> = {}): Narrator {
  const cfg = loadConfig({ LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-test-limits-0000', OPENAI_BASE_URL: `${openai.url}/v1`, ...env });
  return buildNarrator(cfg, log)!;
}

async function failure(p: Promise<unknown>): Promise<NarrationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NarrationError);
  return err as NarrationError;
}

const signal = () => new AbortController().signal;
/** A grounded answer to sampleInput(), as the fake's good step would give it. */
const grounded = () => narrateFromPrompt(buildPrompt(sampleInput(), loadPromptTemplate('narrate-v2')).user);
const good = () => JSON.stringify(grounded());

describe('the model output cap', () => {
  test('LLM_MAX_OUTPUT_TOKENS reaches Ollama as options.num_predict, 1024 by default', async () => {
    await viaOllama({ LLM_MAX_OUTPUT_TOKENS: '300' }).narrate(sampleInput(), signal());
    await viaOllama().narrate(sampleInput(), signal());
    const caps = ollama.chats().map((r) => (r.json as { options: { num_predict?: number } }).options.num_predict);
    expect(caps).toEqual([300, 1024]);
  });

  test('LLM_MAX_OUTPUT_TOKENS reaches an OpenAI-compatible server as max_completion_tokens', async () => {
    await viaOpenAI({ LLM_MAX_OUTPUT_TOKENS: '256' }).narrate(sampleInput(), signal());
    expect((openai.chats()[0]!.json as { max_completion_tokens?: number }).max_completion_tokens).toBe(256);
  });

  test('an answer the server cut off at the cap is rejected as invalid, so the deterministic note goes out', async () => {
    // The fakes cut the content at the cap as the real servers do (done_reason / finish_reason "length").
    const long = { ...grounded(), rootCause: 'x'.repeat(4000) };
    ollama.script({ kind: 'answer', body: long }, { kind: 'answer', body: long });
    const err = await failure(viaOllama({ LLM_MAX_OUTPUT_TOKENS: '64' }).narrate(sampleInput(), signal()));
    expect(err.reason).toBe('invalid');
    expect(ollama.chats()).toHaveLength(2);
  });
});

describe('the answer parser', () => {
  test('an answer longer than 16 KB is rejected before it is parsed, even when it is valid JSON', async () => {
    const huge = JSON.stringify({ ...grounded(), rootCause: `api degraded [M1] ${'very '.repeat(5000)}` });
    ollama.script({ kind: 'text', content: huge }, { kind: 'text', content: huge });
    const err = await failure(viaOllama({ LLM_MAX_OUTPUT_TOKENS: '8192' }).narrate(sampleInput(), signal()));
    expect(err.reason).toBe('invalid');
    expect(err.message).toMatch(/longer than 16384 characters/);
  });

  test.each([
    ['a json fence', (j: string) => `\`\`\`json\n${j}\n\`\`\``],
    ['a JSON fence with spaces after the tag', (j: string) => `\`\`\`JSON   \n${j}\n\`\`\`  `],
    ['a bare fence on one line', (j: string) => `\`\`\`${j}\`\`\``],
    ['a fence whose closing was cut off', (j: string) => `\`\`\`json\n${j}`],
    ['a fence padded with 5,000 spaces', (j: string) => `\`\`\`json${' '.repeat(5000)}${j}${' '.repeat(5000)}\`\`\``],
  ])('%s is unwrapped', async (_name, wrap) => {
    ollama.script({ kind: 'text', content: wrap(good()) });
    // Room for the padding under the fake's own cut at the token cap.
    const n = await viaOllama({ LLM_MAX_OUTPUT_TOKENS: '8192' }).narrate(sampleInput(), signal());
    expect(n.narrator).toBe(`ollama:${MODEL}`);
    // Accepted at the first attempt: no corrective retry was needed.
    expect(ollama.chats()).toHaveLength(1);
  });

  test('a fence followed by 10,000 spaces and nothing else is an invalid answer, not a stuck worker', async () => {
    ollama.script(
      { kind: 'text', content: `\`\`\`${' '.repeat(10_000)}x` },
      { kind: 'text', content: `\`\`\`\n${' '.repeat(10_000)}\n\`\`` },
    );
    const err = await failure(viaOllama({ LLM_MAX_OUTPUT_TOKENS: '8192' }).narrate(sampleInput(), signal()));
    expect(err.reason).toBe('invalid');
    expect(err.message).toMatch(/not valid JSON/);
  });
});

describe("the size of the model server's HTTP answer", () => {
  // 8 MiB of content in a well-formed envelope: what a broken proxy or a hostile endpoint could send.
  const content = 'x'.repeat(8 * 1024 * 1024);
  afterEach(() => {
    ollama.recover();
    openai.recover();
  });

  test('Ollama: a body past 1 MiB is cut off while it is read, not parsed', async () => {
    ollama.failNext({ status: 200, body: { model: MODEL, message: { role: 'assistant', content }, done: true } }, 2);
    const err = await failure(viaOllama().narrate(sampleInput(), signal()));
    expect(err.reason).toBe('bad_response');
    expect(err.message).toMatch(/more than 1048576 bytes/);
  });

  test('OpenAI: a body past 1 MiB is cut off while it is read, not parsed', async () => {
    const completion = {
      id: 'chatcmpl-huge',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
    };
    openai.failNext({ status: 200, body: completion }, 2);
    const err = await failure(viaOpenAI().narrate(sampleInput(), signal()));
    expect(err.reason).toBe('bad_response');
    expect(err.message).toMatch(/more than 1048576 bytes/);
  });

  test('an answer under the cap is read as before', async () => {
    ollama.failNext({ status: 200, body: { model: MODEL, message: { role: 'assistant', content: good() }, done: true, eval_count: 5 } });
    const n = await viaOllama().narrate(sampleInput(), signal());
    expect(n.narrator).toBe(`ollama:${MODEL}`);
  });
});
