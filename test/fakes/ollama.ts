import type { FakeReply, RecordedRequest } from './http';
import { capped, contentFor, delayed, nextStep, promptOf, ScriptedModelServer, tokenCounts } from './llm';

/**
 * A fake Ollama speaking its HTTP API (https://github.com/ollama/ollama/blob/main/docs/api.md):
 * POST /api/chat (the non-streaming answer object: the narrator always sends `stream: false`,
 * and a test asserts it), the one endpoint the product calls; errors as `{"error": "..."}` with Ollama's
 * statuses (404 for an unknown model, 400 for a bad request, 503 when its queue is full, 500 otherwise).
 */
export class FakeOllama extends ScriptedModelServer {
  constructor(readonly models: string[] = ['qwen2.5:3b-instruct']) {
    super('/api/chat');
  }

  protected reply(req: RecordedRequest): FakeReply {
    if (req.method !== 'POST' || req.path !== '/api/chat') return { status: 404, body: '404 page not found' };
    const body = req.json as { model?: string; messages?: unknown[]; options?: { num_predict?: number } } | undefined;
    if (!body || !Array.isArray(body.messages)) return { status: 400, body: { error: 'invalid request: messages required' } };
    if (!body.model || !this.models.includes(body.model)) {
      return { status: 404, body: { error: `model "${body.model ?? ''}" not found, try pulling it first` } };
    }
    const step = nextStep(this);
    if (step.kind === 'status') {
      const message =
        step.status === 503 ? 'server busy, please try again.  maximum pending requests exceeded' : 'llama runner process has terminated';
      return {
        status: step.status,
        body: { error: message },
        ...(step.retryAfterS ? { headers: { 'Retry-After': String(step.retryAfterS) } } : {}),
      };
    }
    // options.num_predict caps the generated tokens; a cut answer says done_reason "length".
    const { content, stop } = capped(contentFor(step, promptOf(body)), body.options?.num_predict);
    const tokens = tokenCounts(body, content);
    const answer = {
      model: body.model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content },
      done_reason: stop,
      done: true,
      total_duration: 5191566416,
      load_duration: 2154458,
      prompt_eval_count: tokens.prompt,
      prompt_eval_duration: 383809000,
      eval_count: tokens.completion,
      eval_duration: 4799921000,
    };
    return delayed({ status: 200, body: answer }, step);
  }
}
