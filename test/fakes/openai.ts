import type { FakeReply, RecordedRequest } from './http';
import { capped, contentFor, delayed, nextStep, promptOf, ScriptedModelServer, tokenCounts } from './llm';

/**
 * A fake OpenAI-compatible server: POST /v1/chat/completions
 * (https://platform.openai.com/docs/api-reference/chat/create), answering chat.completion
 * objects, and errors in OpenAI's `{"error": {message, type, param, code}}` format:
 * 401 for a wrong key, 404 for an unknown model, 429 rate limit, 500 server error.
 */
export class FakeOpenAI extends ScriptedModelServer {
  constructor(readonly opts: { apiKey?: string; models?: string[] } = {}) {
    super('/v1/chat/completions');
  }

  private error(status: number, message: string, type: string, code: string | null, headers?: Record<string, string>): FakeReply {
    return { status, body: { error: { message, type, param: null, code } }, ...(headers ? { headers } : {}) };
  }

  protected reply(req: RecordedRequest): FakeReply {
    if (req.method !== 'POST' || req.path !== '/v1/chat/completions') return this.error(404, 'Invalid URL', 'invalid_request_error', null);
    if (this.opts.apiKey && req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      return this.error(
        401,
        'Incorrect API key provided: sk-****. You can find your API key at https://platform.openai.com/account/api-keys.',
        'invalid_request_error',
        'invalid_api_key',
      );
    }
    const body = req.json as
      | { model?: string; messages?: unknown[]; response_format?: { type?: string }; max_completion_tokens?: number; max_tokens?: number }
      | undefined;
    if (!body || !Array.isArray(body.messages))
      return this.error(400, "Missing required parameter: 'messages'.", 'invalid_request_error', 'missing_required_parameter');
    const models = this.opts.models ?? ['gpt-4o-mini'];
    if (!body.model || !models.includes(body.model)) {
      return this.error(
        404,
        `The model \`${body.model ?? ''}\` does not exist or you do not have access to it.`,
        'invalid_request_error',
        'model_not_found',
      );
    }
    const step = nextStep(this);
    if (step.kind === 'status') {
      if (step.status === 429) {
        return this.error(
          429,
          `Rate limit reached for ${body.model} on requests per min (RPM): Limit 3, Used 3, Requested 1.`,
          'requests',
          'rate_limit_exceeded',
          {
            'retry-after': String(step.retryAfterS ?? 20),
          },
        );
      }
      return this.error(step.status, 'The server had an error while processing your request. Sorry about that!', 'server_error', null);
    }
    // max_completion_tokens (max_tokens before it) caps the answer; a cut one has finish_reason "length".
    const { content, stop } = capped(contentFor(step, promptOf(body)), body.max_completion_tokens ?? body.max_tokens);
    const tokens = tokenCounts(body, content);
    return delayed(
      {
        status: 200,
        body: {
          id: 'chatcmpl-fake0001',
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: `${body.model}-2024-07-18`,
          choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: stop }],
          usage: {
            prompt_tokens: tokens.prompt,
            completion_tokens: tokens.completion,
            total_tokens: tokens.prompt + tokens.completion,
            prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
            completion_tokens_details: {
              reasoning_tokens: 0,
              audio_tokens: 0,
              accepted_prediction_tokens: 0,
              rejected_prediction_tokens: 0,
            },
          },
          system_fingerprint: 'fp_0000000000',
        },
      },
      step,
    );
  }
}
