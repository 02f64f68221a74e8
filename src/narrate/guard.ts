import type { Logger } from 'pino';
import { OutboundError } from '../clients/http';
import { withSpan } from '../spans';
import { NarrationError } from './errors';
import type { CallBudget, ModelGate } from './gate';
import { groundingCheck } from './grounding';
import { NARRATION_JSON_SCHEMA, type ChatMessage, type ModelClient } from './model';
import { buildPrompt, correctionMessage, type PromptTemplate } from './prompt';
import { sanitizeFields } from '../model/sanitize';
import { narrationSchema, type LlmUsage, type Narration, type NarrationBody, type NarrationInput, type Narrator } from '../model/narration';

export interface GuardOptions {
  client: ModelClient;
  gate: ModelGate;
  /** LLM_MAX_CALLS_PER_HOUR across workers; no cap when absent. */
  budget?: CallBudget;
  template: PromptTemplate;
  /** Per model call (LLM_TIMEOUT_MS); also the longest wait for a concurrency slot. */
  timeoutMs: number;
  log: Logger;
  /** Link prefixes we built (GRAFANA_URL); the alert's own runbook and generator URLs are added per call. */
  allowedUrls?: readonly string[];
  /** The model's output cap in tokens (LLM_MAX_OUTPUT_TOKENS). */
  maxOutputTokens: number;
}

/**
 * Longer answers are rejected before any parsing: a full note is about 2 KB, and nothing
 * that reads the answer (JSON, zod, the grounding regexes) then sees more than this.
 */
export const MAX_ANSWER_CHARS = 16_384;

interface ParsedAnswer {
  body?: NarrationBody;
  problems: string[];
}

const FENCE = '```';

/**
 * The answer without a Markdown code fence around it (```json … ```, the closing fence
 * optional: a cut-off answer lacks it), in string operations only: the regex this replaces
 * took cubic time on a fence followed by spaces (38 s for 5,000).
 */
export function stripFence(text: string): string {
  let s = text.trim();
  if (!s.startsWith(FENCE)) return s;
  s = s.slice(FENCE.length);
  if (s.slice(0, 4).toLowerCase() === 'json') s = s.slice(4);
  s = s.trim();
  if (s.endsWith(FENCE)) s = s.slice(0, -FENCE.length);
  return s.trim();
}

/** The model's text as JSON: tolerates a ```json fence, nothing else. */
function parseAnswer(text: string): ParsedAnswer {
  if (text.length > MAX_ANSWER_CHARS) {
    return { problems: [`the answer is longer than ${MAX_ANSWER_CHARS} characters: answer with one short JSON object`] };
  }
  const unfenced = stripFence(text);
  let raw: unknown;
  try {
    raw = JSON.parse(unfenced);
  } catch {
    return { problems: ['the answer is not valid JSON: answer with one JSON object only'] };
  }
  const parsed = narrationSchema.safeParse(raw);
  if (!parsed.success) {
    return { problems: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`) };
  }
  return { body: parsed.data, problems: [] };
}

function alertUrls(input: NarrationInput): string[] {
  const urls = [input.payload.commonAnnotations.runbook_url];
  for (const a of input.alerts) urls.push(a.annotations.runbook_url, a.generatorURL);
  return urls.filter((u): u is string => !!u);
}

/**
 * Wraps a model in everything that makes it safe to publish from: a prompt from the
 * (already scrubbed) findings, timeout and abort, schema validation, grounding, one
 * corrective retry, output sanitising, a shared circuit breaker and concurrency cap, and an
 * `llm.call` span per attempt. Any failure throws a NarrationError; the pipeline then publishes the template.
 */
export class GuardedNarrator implements Narrator {
  readonly name: string;

  constructor(private readonly opts: GuardOptions) {
    this.name = `${opts.client.provider}:${opts.client.model}`;
  }

  async narrate(input: NarrationInput, signal: AbortSignal): Promise<Narration> {
    if (signal.aborted) throw new NarrationError('aborted', 'narration aborted');
    const { gate, template, timeoutMs } = this.opts;
    // The input arrives scrubbed (pipeline scrubInput; a stored renarration input too). Used
    // as given, so the prompt and the grounding check see the same text.
    const prompt = buildPrompt(input, template);
    await gate.checkOpen();
    const release = await gate.acquire(signal, timeoutMs);
    const usage: LlmUsage = { calls: 0, promptTokens: 0, completionTokens: 0, ms: 0 };
    try {
      const body = await this.ask(prompt.system, prompt.user, input, signal, usage);
      // Best effort: a Redis hiccup must not throw away a good narration.
      await gate.success().catch(() => undefined);
      // The confidence is the analysis's: nothing the model says, or is told to say, moves it.
      const clean = sanitizeFields(body, { allowedUrls: [...(this.opts.allowedUrls ?? []), ...alertUrls(input)] });
      return {
        ...clean,
        evidence: [...new Set(body.evidence)],
        confidence: input.analysis.confidence,
        narrator: this.name,
        promptVersion: prompt.version,
        llm: usage,
      };
    } catch (err) {
      const failure = this.toNarrationError(err, signal);
      failure.llm = { ...usage, ...(failure.reason === 'capped' ? { capped: true } : {}) };
      if (failure.countsAsFailure) await gate.failure().catch(() => undefined);
      throw failure;
    } finally {
      await release().catch(() => undefined);
    }
  }

  /** First attempt, then at most one corrective retry for an invalid or ungrounded answer. */
  private async ask(system: string, user: string, input: NarrationInput, signal: AbortSignal, usage: LlmUsage): Promise<NarrationBody> {
    const messages: ChatMessage[] = [
      { role: 'system', content: system },
      { role: 'user', content: user },
    ];
    const problemsOf = groundingCheck(input, this.opts.allowedUrls ?? []);
    let lastReason: 'invalid' | 'ungrounded' = 'invalid';
    let lastProblems: string[] = [];
    for (let attempt = 1; attempt <= 2; attempt++) {
      const { text, answer } = await this.call(messages, attempt, signal, usage);
      const { body, problems } = answer;
      const grounded = body ? problemsOf(body) : [];
      if (body && grounded.length === 0) return body;
      lastReason = body ? 'ungrounded' : 'invalid';
      lastProblems = body ? grounded : problems;
      this.opts.log.warn({ narrator: this.name, attempt, reason: lastReason, problems: lastProblems }, 'model answer rejected');
      messages.push({ role: 'assistant', content: text }, { role: 'user', content: correctionMessage(this.opts.template, lastProblems) });
    }
    throw new NarrationError(lastReason, `model answer rejected twice: ${lastProblems.join('; ')}`);
  }

  /** One model call inside an `llm.call` span (docs/architecture.md span names), its answer parsed once. */
  private async call(
    messages: ChatMessage[],
    attempt: number,
    signal: AbortSignal,
    usage: LlmUsage,
  ): Promise<{ text: string; answer: ParsedAnswer }> {
    const { client, timeoutMs, maxOutputTokens, budget } = this.opts;
    // Checked per call, so a corrective retry counts against the cap too.
    if (budget && !(await budget.take())) {
      throw new NarrationError('capped', `the hourly cap of ${budget.maxPerHour} model calls (LLM_MAX_CALLS_PER_HOUR) is reached`);
    }
    const promptChars = messages.reduce((n, m) => n + m.content.length, 0);
    return withSpan(
      'llm.call',
      { 'llm.provider': client.provider, 'llm.model': client.model, 'llm.prompt_chars': promptChars, 'llm.attempt': attempt },
      async (span) => {
        // A call that fails has parsed nothing; overwritten once there is an answer.
        span.setAttribute('llm.parse_ok', false);
        const started = performance.now();
        usage.calls++;
        const reply = await client.complete({ messages, schema: NARRATION_JSON_SCHEMA, timeoutMs, maxOutputTokens, signal }).finally(() => {
          usage.ms += Math.round(performance.now() - started);
        });
        const text = reply.text;
        if (reply.usage) {
          usage.promptTokens += reply.usage.promptTokens;
          usage.completionTokens += reply.usage.completionTokens;
          span.setAttribute('llm.prompt_tokens', reply.usage.promptTokens);
          span.setAttribute('llm.completion_tokens', reply.usage.completionTokens);
        }
        const answer = parseAnswer(text);
        span.setAttribute('llm.response_chars', text.length);
        span.setAttribute('llm.parse_ok', answer.body !== undefined);
        return { text, answer };
      },
    );
  }

  private toNarrationError(err: unknown, signal: AbortSignal): NarrationError {
    if (err instanceof NarrationError) return err;
    if (signal.aborted) return new NarrationError('aborted', 'narration aborted');
    if (err instanceof OutboundError) {
      const e = new NarrationError(err.reason, err.message, err.retryAfterMs);
      e.unsent = notSent(err);
      return e;
    }
    return new NarrationError('bad_response', `${this.name}: ${(err as Error).message}`);
  }
}

/** Connection errors that happen before a byte of the request is sent. */
const UNSENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The model never saw the request: the connection was refused or the host not found, or a
 * gateway (502/503/504: an overloaded server or the proxy in front of it) turned it away.
 */
function notSent(err: OutboundError): boolean {
  if (err.reason === 'network') return err.socketCode !== undefined && UNSENT_CODES.has(err.socketCode);
  return err.reason === 'server' && (err.status === 502 || err.status === 503 || err.status === 504);
}
