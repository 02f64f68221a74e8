import OpenAI, { APIConnectionTimeoutError } from 'openai';
import { z } from 'zod';
import { OutboundError } from '../clients/http';
import { MODEL_ANSWER_MAX_BYTES, outboundCause, outboundFetch, type ModelAnswer, type ModelCall, type ModelClient } from './model';

/** The part of a chat completion we use (https://platform.openai.com/docs/api-reference/chat/object). */
const completionSchema = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({ content: z.string().nullable().optional(), refusal: z.string().nullable().optional() }),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .min(1),
  /** Token counts (https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage); some compatible servers omit them. */
  usage: z.looseObject({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullable().optional(),
});

export interface OpenAIOptions {
  apiKey?: string;
  /** Any OpenAI-compatible server (vLLM, llama.cpp, LiteLLM); OpenAI's own when unset. */
  baseURL?: string;
  model: string;
}

/**
 * OpenAI (or a compatible server) through the openai client: chat completions with a
 * strict json_schema response_format (structured outputs). The client's own retries are
 * off: a failed narration falls back at once and is retried later by the worker.
 */
export class OpenAIModel implements ModelClient {
  readonly provider = 'openai' as const;
  readonly model: string;
  constructor(private readonly opts: OpenAIOptions) {
    this.model = opts.model;
  }

  async complete(call: ModelCall): Promise<ModelAnswer> {
    // A client per call, like ollama.ts: its fetch carries this call's timeout and signal.
    // Building one costs microseconds against a model call of seconds, and keeps the call's
    // context explicit instead of threading it through async-local state.
    const client = new OpenAI({
      // Compatible local servers often need no key; the client insists on a value.
      apiKey: this.opts.apiKey ?? 'not-needed',
      ...(this.opts.baseURL ? { baseURL: this.opts.baseURL } : {}),
      maxRetries: 0,
      // Ours fires first (httpRequest); this is only a backstop.
      timeout: call.timeoutMs + 1000,
      fetch: outboundFetch('openai', call.timeoutMs, call.signal, MODEL_ANSWER_MAX_BYTES),
    });
    let raw: unknown;
    try {
      raw = await client.chat.completions.create(
        {
          model: this.model,
          messages: call.messages,
          temperature: 0,
          // The output cap; max_tokens is deprecated and refused by reasoning models.
          max_completion_tokens: call.maxOutputTokens,
          response_format: { type: 'json_schema', json_schema: { name: 'incident_note', strict: true, schema: call.schema } },
        },
        { signal: call.signal },
      );
    } catch (err) {
      if (call.signal.aborted) throw new OutboundError('openai', 'aborted', 'chat completion aborted');
      // The client turns a fetch error that reads like a timeout into its own error, without a cause.
      if (err instanceof APIConnectionTimeoutError) {
        throw new OutboundError('openai', 'timeout', `chat completion timed out after ${call.timeoutMs} ms`);
      }
      throw outboundCause(err) ?? new OutboundError('openai', 'bad_response', `chat completion failed: ${(err as Error).name}`);
    }
    const parsed = completionSchema.safeParse(raw);
    if (!parsed.success) throw new OutboundError('openai', 'bad_response', 'chat completion with an unexpected shape');
    const message = parsed.data.choices[0]!.message;
    if (message.refusal) throw new OutboundError('openai', 'bad_response', 'the model refused to answer');
    const usage = parsed.data.usage;
    return {
      text: message.content ?? '',
      ...(usage ? { usage: { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens } } : {}),
    };
  }
}
