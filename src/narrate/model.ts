import { httpRequest, OutboundError } from '../clients/http';

/** One chat turn sent to a model. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ModelCall {
  messages: ChatMessage[];
  /** JSON schema the answer must follow (Ollama `format`, OpenAI `response_format`). */
  schema: Record<string, unknown>;
  timeoutMs: number;
  /** Most tokens the model may generate (Ollama `num_predict`, OpenAI `max_completion_tokens`). */
  maxOutputTokens: number;
  signal: AbortSignal;
}

/** What one call cost, as the provider counted it (absent when the server does not say). */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface ModelAnswer {
  text: string;
  usage?: TokenUsage;
}

/** A chat model behind a provider's client; returns the answer's text and token counts, throws OutboundError. */
export interface ModelClient {
  readonly provider: 'ollama' | 'openai';
  readonly model: string;
  complete(call: ModelCall): Promise<ModelAnswer>;
}

/** The JSON schema given to the model; narrationSchema (zod) is what we then enforce. */
export const NARRATION_JSON_SCHEMA = {
  type: 'object',
  properties: {
    summary: { type: 'string' },
    rootCause: { type: 'string' },
    evidence: { type: 'array', items: { type: 'string' } },
    actions: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 5 },
    confidence: { type: 'string', enum: ['low', 'medium', 'high'] },
  },
  required: ['summary', 'rootCause', 'evidence', 'actions', 'confidence'],
  additionalProperties: false,
} as const;

function urlOf(input: string | URL | Request): string {
  if (typeof input === 'string') return input;
  return input instanceof URL ? input.href : input.url;
}

/**
 * A `fetch` for the provider clients (both accept one) that goes through httpRequest, so
 * model calls get the same timeout, abort, redaction and status classification as every
 * other outbound call: a non-2xx answer rejects with a classified OutboundError.
 */
/**
 * Most bytes of a model server's HTTP answer that are read (1 MiB). A note is at most 16,384
 * characters (MAX_ANSWER_CHARS) inside a small envelope, about 100 KB even if every character
 * came \u-escaped; a server that sends more (a broken proxy, a hostile endpoint) is cut off
 * while its body is read instead of filling the worker's memory.
 */
export const MODEL_ANSWER_MAX_BYTES = 1024 * 1024;

export function outboundFetch(target: string, timeoutMs: number, signal: AbortSignal, maxBodyBytes?: number): typeof fetch {
  const fetchVia = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v;
    });
    if (init?.body !== undefined && init.body !== null && typeof init.body !== 'string') {
      throw new OutboundError(target, 'client', 'request body must be a string');
    }
    const res = await httpRequest(target, {
      method: init?.method ?? 'GET',
      url: urlOf(input),
      headers,
      body: init?.body ?? undefined,
      timeoutMs,
      signal: init?.signal ? AbortSignal.any([signal, init.signal]) : signal,
      ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
    });
    return new Response(res.text, { status: res.status, headers: res.headers });
  };
  return fetchVia as typeof fetch;
}

/** Finds the OutboundError inside whatever a client wrapped it in (OpenAI's APIConnectionError keeps it as `cause`). */
export function outboundCause(err: unknown): OutboundError | undefined {
  for (let e: unknown = err, i = 0; e && i < 4; i++) {
    if (e instanceof OutboundError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
