import { Ollama } from 'ollama';
import { z } from 'zod';
import { OutboundError } from '../clients/http';
import { MODEL_ANSWER_MAX_BYTES, outboundCause, outboundFetch, type ModelAnswer, type ModelCall, type ModelClient } from './model';

/** The part of Ollama's /api/chat answer we use (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion). */
const chatResponseSchema = z.looseObject({
  model: z.string().optional(),
  message: z.looseObject({ role: z.string(), content: z.string() }),
  done: z.boolean().optional(),
  /** Tokens of the prompt and of the answer (Ollama's own counts). */
  prompt_eval_count: z.number().optional(),
  eval_count: z.number().optional(),
});

export interface OllamaOptions {
  host: string;
  model: string;
}

/**
 * Ollama through its own client: /api/chat, non-streaming, with the answer's JSON schema
 * as `format` (structured outputs, Ollama >= 0.5) and temperature 0 for stable notes.
 */
export class OllamaModel implements ModelClient {
  readonly provider = 'ollama' as const;
  readonly model: string;
  constructor(private readonly opts: OllamaOptions) {
    this.model = opts.model;
  }

  async complete(call: ModelCall): Promise<ModelAnswer> {
    // A client per call, unlike OpenAI's: ollama-js 0.6 takes no per-request signal or timeout
    // (chat() has no request options; abort() stops every request of a client), so only the
    // client's fetch can carry this call's timeout and abort signal.
    const client = new Ollama({
      host: this.opts.host,
      fetch: outboundFetch('ollama', call.timeoutMs, call.signal, MODEL_ANSWER_MAX_BYTES),
    });
    let raw: unknown;
    try {
      raw = await client.chat({
        model: this.model,
        messages: call.messages,
        format: call.schema,
        stream: false,
        // num_predict: the output cap (https://github.com/ollama/ollama/blob/main/docs/modelfile.md#valid-parameters-and-values).
        options: { temperature: 0, num_predict: call.maxOutputTokens },
      });
    } catch (err) {
      throw outboundCause(err) ?? new OutboundError('ollama', 'bad_response', `chat failed: ${(err as Error).message}`);
    }
    const parsed = chatResponseSchema.safeParse(raw);
    if (!parsed.success) throw new OutboundError('ollama', 'bad_response', 'chat answered with an unexpected shape');
    const { prompt_eval_count: promptTokens, eval_count: completionTokens } = parsed.data;
    return {
      text: parsed.data.message.content,
      // Ollama leaves prompt_eval_count out when the whole prompt came from its cache.
      ...(completionTokens !== undefined ? { usage: { promptTokens: promptTokens ?? 0, completionTokens } } : {}),
    };
  }
}
