import { z } from 'zod';
import { httpRequest, OutboundError, parseJsonBody, parseRetryAfter } from '../clients/http';

/**
 * The Slack Web API calls the interactions and the chart upload need (chat.update,
 * chat.postEphemeral, views.open, files.getUploadURLExternal, files.completeUploadExternal),
 * kept apart from the publisher's transport in slack.ts so they can move onto the official
 * client with it. Web API errors are HTTP 200 with `ok:false` (https://docs.slack.dev/apis/web-api/#responses).
 */

const answerSchema = z.looseObject({ ok: z.boolean(), error: z.string().optional() });
type Answer = z.infer<typeof answerSchema>;

/** Methods whose documentation accepts only form-encoded arguments. */
const FORM_ONLY = new Set(['files.getUploadURLExternal', 'files.completeUploadExternal']);

export class SlackWebApi {
  private readonly base: string;
  constructor(private readonly opts: { token: string; apiUrl: string; timeoutMs?: number }) {
    this.base = opts.apiUrl.replace(/\/+$/, '');
  }

  async call(method: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<Answer> {
    const form = FORM_ONLY.has(method);
    const body = form
      ? new URLSearchParams(
          Object.entries(args).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)] as [string, string]),
        ).toString()
      : JSON.stringify(args);
    const r = await httpRequest('slack', {
      method: 'POST',
      url: `${this.base}/${method}`,
      headers: {
        Authorization: `Bearer ${this.opts.token}`,
        'Content-Type': form ? 'application/x-www-form-urlencoded' : 'application/json; charset=utf-8',
      },
      body,
      timeoutMs: this.opts.timeoutMs ?? 10_000,
      signal,
    });
    const answer = parseJsonBody('slack', r, answerSchema);
    if (!answer.ok) {
      const code = answer.error ?? 'unknown_error';
      const reason = code === 'ratelimited' ? 'rate_limited' : /auth|token|scope/.test(code) ? 'auth' : 'client';
      throw new OutboundError(
        'slack',
        reason,
        `${method} answered ok:false error=${code}`,
        r.status,
        parseRetryAfter(r.headers.get('retry-after')),
      );
    }
    return answer;
  }
}
