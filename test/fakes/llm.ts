import { FakeHttpServer, type FakeReply, type RecordedRequest } from './http';

/**
 * What a fake model server does with the next chat request. Shared by the fake Ollama and
 * the fake OpenAI; each turns a step into its own wire format.
 */
export type ModelStep =
  /** Answer well: a narration grounded in the prompt it was given. */
  | { kind: 'good'; delayMs?: number }
  /** Answer this object (serialised as the message content). */
  | { kind: 'answer'; body: unknown; delayMs?: number }
  /** Answer this raw content (e.g. not JSON). */
  | { kind: 'text'; content: string; delayMs?: number }
  /** Answer with this HTTP error, in the provider's error format. */
  | { kind: 'status'; status: number; retryAfterS?: number };

/** The first user turn of a chat request: the prompt with the findings (a retry appends a correction after it). */
export function promptOf(json: unknown): string {
  const messages = (json as { messages?: { role: string; content: string }[] } | undefined)?.messages ?? [];
  return messages.filter((m) => m.role === 'user')[0]?.content ?? '';
}

/**
 * A model that does what a good narrator should: names the top suspect, cites the finding
 * ids it was given, and proposes actions. Reads only the prompt, like a real model.
 */
export function narrateFromPrompt(prompt: string): Record<string, unknown> {
  const ids = [...prompt.matchAll(/^([A-Z]\d+) \|/gm)].map((m) => m[1]!);
  const suspect = /^1\. (\S+) \|/m.exec(prompt)?.[1];
  const alertname = /alertname=([^,\s]+)/.exec(prompt)?.[1] ?? 'the alert';
  const cited = ids.slice(0, 3);
  return {
    summary: `${alertname} is firing${suspect ? `; ${suspect} is the most likely cause` : ''}.`,
    rootCause: suspect
      ? `${suspect} degraded first${cited.length ? ` [${cited.join(', ')}]` : ''}.`
      : `Not determined from the findings${cited.length ? ` [${cited.join(', ')}]` : ''}.`,
    evidence: cited,
    actions: [suspect ? `Check ${suspect} dashboards and recent deploys` : 'Check the alert graph', 'Follow the runbook'],
    confidence: 'low',
  };
}

export interface ScriptedModel {
  /** Steps for the next requests, in order; afterwards `fallback`. */
  steps: ModelStep[];
  fallback: ModelStep;
}

/**
 * Token counts the way a server reports them: from what it was sent and what it answered
 * (about four characters a token, as BPE tokenizers give for English), so a longer prompt or
 * a corrective retry costs more, as it does for real.
 */
export function tokenCounts(json: unknown, content: string): { prompt: number; completion: number } {
  const messages = (json as { messages?: { content?: unknown }[] } | undefined)?.messages ?? [];
  const chars = messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : 0), 0);
  return { prompt: Math.ceil(chars / 4) + 4 * messages.length, completion: Math.max(1, Math.ceil(content.length / 4)) };
}

export function nextStep(m: ScriptedModel): ModelStep {
  return m.steps.shift() ?? m.fallback;
}

export function contentFor(step: ModelStep, prompt: string): string {
  if (step.kind === 'good') return JSON.stringify(narrateFromPrompt(prompt));
  if (step.kind === 'answer') return JSON.stringify(step.body);
  if (step.kind === 'text') return step.content;
  return '';
}

/**
 * The servers' own output cap, roughly: about four characters a token, the content cut
 * there and the answer marked as stopped by length (Ollama `done_reason`, OpenAI
 * `finish_reason`). A cap of 0 or less, or none, means no cap, as on the real servers.
 */
export function capped(content: string, maxTokens: number | undefined): { content: string; stop: 'stop' | 'length' } {
  if (!maxTokens || maxTokens <= 0 || content.length <= maxTokens * 4) return { content, stop: 'stop' };
  return { content: content.slice(0, maxTokens * 4), stop: 'length' };
}

export function delayed(reply: FakeReply, step: ModelStep): FakeReply {
  return 'delayMs' in step && step.delayMs ? { ...reply, delayMs: step.delayMs } : reply;
}

/**
 * The base of the fake model servers: a FakeHttpServer with a script of steps; the
 * subclass answers one request in its provider's wire format.
 */
export abstract class ScriptedModelServer extends FakeHttpServer implements ScriptedModel {
  steps: ModelStep[] = [];
  fallback: ModelStep = { kind: 'good' };

  constructor(private readonly chatPath: string) {
    // The handler runs per request, long after construction, so it may use `this`.
    super((req) => this.reply(req));
  }

  /** Scripts the next answers, in order. */
  script(...steps: ModelStep[]): this {
    this.steps.push(...steps);
    return this;
  }

  /** The chat requests received so far. */
  chats(): RecordedRequest[] {
    return this.requestsTo(this.chatPath);
  }

  protected abstract reply(req: RecordedRequest): FakeReply;
}
