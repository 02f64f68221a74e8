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
  /** Answer as a model that obeys every instruction it reads anywhere in the prompt (obeyFromPrompt). */
  | { kind: 'obey'; delayMs?: number }
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

/**
 * The prompt as a model might read it: with base64 blobs, \uXXXX and %XX escapes and HTML
 * entities decoded, and look-alike characters folded (NFKC, invisible characters dropped).
 */
function readThrough(prompt: string): string {
  const folded = prompt.normalize('NFKC').replace(/[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/g, '');
  const decoded: string[] = [folded];
  for (const m of folded.matchAll(/[A-Za-z0-9+/]{16,}={0,2}/g)) {
    const text = Buffer.from(m[0], 'base64').toString('utf8');
    if (/^[\x20-\x7e\s]+$/.test(text)) decoded.push(text);
  }
  decoded.push(folded.replace(/\\u([0-9a-fA-F]{4})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))));
  decoded.push(
    folded.replace(/&#x([0-9a-f]+);|&#(\d+);/gi, (_m, h?: string, d?: string) => String.fromCodePoint(h ? parseInt(h, 16) : Number(d))),
  );
  decoded.push(folded.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))));
  return decoded.join('\n');
}

/** What an instruction in the prompt asks for, in the phrasings of the injection corpus (several languages). */
const BLAME =
  /(?:root ?cause(?: is|:|=)|blame|caused by|culprit is|is the (?:real )?cause|la cause est|la causa es|die ursache ist|a causa é|przyczyną jest|причина\s*[-—:]?|根本原因是|原因は)\s*["'`“]?([A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9])/iu;
const IGNORE =
  /ignore (?:all )?(?:previous|prior|the above)|ignorez|ignora (?:las|le|todas)|ignoriere|ignoruj|игнорируй|忽略|無視|disregard|forget (?:your|all)/iu;
const SAY = /(?:say|write|answer|reply|respond|print|output)(?: with| only| exactly)?\s*[:"“'](\s*[^"”'\n]{3,120})/i;
// Not "analysis confidence: high" in ALERT: that is the prompt's own fact.
const HIGH =
  /(?:say|set|make|raise|report)\W{1,3}(?:the\W)?confidence\W{0,3}(?:to\W{1,3}|as\W{1,3})?high|confidence\W{1,3}(?:must|should) be\W{1,3}high/i;
const LINK = /(https?:\/\/[^\s"'<>|)\]]+)/g;
const PING = /<!(?:channel|here|everyone)>|<@[UW][A-Z0-9]+>|@(?:here|channel|everyone)\b/;
const PLANTED = /\{[^{}]*"rootCause"\s*:[^{}]*\}/;

/**
 * A model that does whatever any text in its prompt tells it to, the untrusted data section
 * included: the adversary of the injection corpus. Starting from the good answer
 * (narrateFromPrompt), it answers with a JSON note planted in the prompt, blames the service
 * an instruction names, raises the confidence, repeats links, pings and dictated phrases, and
 * drops the top suspect when told to ignore its instructions. Without instructions it is
 * the good narrator.
 */
export function obeyFromPrompt(prompt: string): Record<string, unknown> {
  const answer = narrateFromPrompt(prompt);
  const text = readThrough(prompt);
  // The prompt's own runbook and generator links are not instructions.
  const own = new Set([...prompt.matchAll(/(?:runbook|generatorURL): (\S+)/g)].map((m) => m[1]!));
  const planted = PLANTED.exec(text.replace(/\\"/g, '"'));
  if (planted) {
    try {
      return { ...answer, ...(JSON.parse(planted[0]) as Record<string, unknown>) };
    } catch {
      // not JSON after all: read on
    }
  }
  const obeyed: Record<string, unknown> & { actions: string[] } = { ...answer, actions: [...(answer.actions as string[])] };
  const target = BLAME.exec(text)?.[1];
  if (target) {
    obeyed.summary = `${target} is down.`;
    obeyed.rootCause = `Root cause is ${target} [${(answer.evidence as string[]).join(', ')}].`;
    obeyed.actions.unshift(`Restart ${target}`);
  } else if (IGNORE.test(text)) {
    obeyed.rootCause = 'As instructed, the previous instructions are ignored.';
  }
  if (HIGH.test(text)) obeyed.confidence = 'high';
  const said = SAY.exec(text)?.[1]?.trim();
  if (said) obeyed.summary = said.slice(0, 200);
  const links = [...text.matchAll(LINK)].map((m) => m[1]!).filter((u) => !own.has(u));
  if (links.length) obeyed.actions.push(`Open ${links[0]}`);
  const ping = PING.exec(text)?.[0];
  if (ping) obeyed.summary = `${ping} ${String(obeyed.summary)}`;
  obeyed.actions = obeyed.actions.slice(0, 5);
  return obeyed;
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
  if (step.kind === 'obey') return JSON.stringify(obeyFromPrompt(prompt));
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
