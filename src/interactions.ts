import type { Logger } from 'pino';
import { type AlertmanagerClient, exactMatchers } from './clients/alertmanager';
import { OutboundError } from './clients/http';
import type { LokiClient } from './clients/loki';
import { feedbackLabels, type FeedbackRecord } from './model/feedback';
import { ACTIONS, REASON_VIEW, type InteractionJobData } from './model/interaction';
import type { Metrics } from './metrics';
import type { SlackWebApi } from './publish/slack-api';
import { groupMetadata } from './publish/slack';

/**
 * The work behind a click on the card, in a worker (the receiver answered Slack at once):
 * feedback into Loki, a silence in Alertmanager, or a fresh analysis. Whatever happens, the
 * user is told: the card changes, or an ephemeral message says what went wrong.
 */

export interface InteractionDeps {
  /** The bot's Web API (SLACK_BOT_TOKEN): updates the card, tells the user, opens the modal. */
  slack?: SlackWebApi;
  loki?: LokiClient;
  alertmanager?: AlertmanagerClient;
  /**
   * Remembers a status line and the buttons it makes done with the group's card (publish
   * state), so the publisher's next rendering keeps them; runs `apply` (the card's update)
   * under the same per-group lock the publisher renders under.
   */
  markGroupCard?: (
    groupKey: string,
    line: string,
    done: readonly string[],
    signal: AbortSignal,
    apply: () => Promise<void>,
  ) => Promise<void>;
  /** Queues nothing: runs the re-analysis of the group named by the button (pipeline.reanalyzeGroup). */
  reanalyze?: (groupKey: string, signal: AbortSignal) => Promise<{ verdict?: string } | undefined>;
  metrics?: Metrics;
  log: Logger;
  now?: () => Date;
}

export const SILENCE_MS = 2 * 3600_000;

type Block = Record<string, unknown>;

/**
 * The card as Slack holds it, with the buttons that are done removed and a status line added
 * under them (one context block, `block_id` aa-status, gathering every line).
 */
export function markCard(blocks: readonly unknown[], line: string, done: readonly string[]): Block[] {
  const out: Block[] = [];
  let status: Block | undefined;
  for (const raw of blocks) {
    const b = raw as Block;
    if (b.type === 'actions') {
      const elements = ((b.elements as Block[] | undefined) ?? []).filter((e) => !done.includes(String(e.action_id)));
      if (elements.length) out.push({ ...b, elements });
      continue;
    }
    if (b.block_id === 'aa-status') {
      status = { ...b, elements: [...((b.elements as Block[] | undefined) ?? []), { type: 'mrkdwn', text: line }].slice(-10) };
      out.push(status);
      continue;
    }
    out.push(b);
  }
  if (!status) {
    // Right after the buttons (or at the end): the status reads where the click was.
    const at = out.findIndex((b) => b.type === 'actions');
    out.splice(at < 0 ? out.length : at + 1, 0, { type: 'context', block_id: 'aa-status', elements: [{ type: 'mrkdwn', text: line }] });
  }
  return out;
}

/** `<!date^…>`: Slack shows each reader their own time zone; the fallback is UTC. */
function slackTime(d: Date): string {
  const hhmm = d.toISOString().slice(11, 16);
  return `<!date^${Math.floor(d.getTime() / 1000)}^{time}|${hhmm} UTC>`;
}

export async function handleInteraction(data: InteractionJobData, deps: InteractionDeps, signal: AbortSignal): Promise<void> {
  const log = deps.log.child({ interaction: data.action, fingerprint: data.value.f });
  const tell = async (text: string) => {
    if (!deps.slack || !data.channel) {
      log.warn({ text }, 'slack interaction: cannot tell the user (no bot token or channel)');
      return;
    }
    await deps.slack.call('chat.postEphemeral', { channel: data.channel, user: data.user, text }, signal);
  };
  const update = async (line: string, done: readonly string[]) => {
    const apply = async () => {
      if (!deps.slack || !data.channel || !data.messageTs || !data.blocks) return;
      await deps.slack.call(
        'chat.update',
        {
          channel: data.channel,
          ts: data.messageTs,
          blocks: markCard(data.blocks, line, done),
          // Every write of a group's message carries its metadata, so a later look through the
          // channel's history still finds it, whatever Slack keeps of the old metadata on update.
          ...(data.value.k ? { metadata: groupMetadata(data.value.k) } : {}),
        },
        signal,
      );
    };
    // Without the group key (too long for a button) the card changes now but a re-render forgets it.
    if (deps.markGroupCard && data.value.k) await deps.markGroupCard(data.value.k, line, done, signal, apply);
    else await apply();
  };
  try {
    switch (data.action) {
      case ACTIONS.right:
      case ACTIONS.wrong:
        return await feedback(data, deps, signal, update, tell);
      case ACTIONS.silence:
        return await silence(data, deps, signal, update, tell);
      case ACTIONS.reanalyze:
        return await reanalyze(data, deps, signal, tell);
    }
  } catch (err) {
    // Told, never swallowed: the user sees why, the log has it, and a retryable failure is retried.
    const message = err instanceof Error ? err.message : String(err);
    log.error({ err: message }, 'slack interaction failed');
    await tell(`:warning: ${describe(data.action)} failed: ${message}`).catch(() => undefined);
    if (err instanceof OutboundError && err.retryable) throw err;
  }
}

function describe(action: InteractionJobData['action']): string {
  return action === ACTIONS.silence ? 'Silencing' : action === ACTIONS.reanalyze ? 'Re-analysis' : 'Saving your feedback';
}

type Update = (line: string, done: readonly string[]) => Promise<void>;
type Tell = (text: string) => Promise<void>;

async function feedback(data: InteractionJobData, deps: InteractionDeps, signal: AbortSignal, update: Update, tell: Tell) {
  const rating = data.action === ACTIONS.right ? 'right' : 'wrong';
  if (!deps.loki) throw new Error('LOKI_URL is not set, so feedback cannot be stored');
  const record: FeedbackRecord = {
    kind: 'feedback',
    fingerprint: data.value.f,
    startsAt: data.value.s,
    verdict: rating,
    ...(data.value.v ? { noteVerdict: data.value.v } : {}),
    ...(data.value.alertname ? { alertname: data.value.alertname } : {}),
    user: data.user,
    ...(data.reason ? { reason: data.reason } : {}),
    at: (deps.now?.() ?? new Date()).toISOString(),
  };
  await deps.loki.push([{ labels: feedbackLabels(record), line: JSON.stringify(record) }], signal);
  if (data.kind === 'reason') {
    await tell(':memo: Thanks, your reason is stored with the feedback.');
    return;
  }
  deps.metrics?.feedback.inc({ verdict: rating });
  await update(rating === 'right' ? `:+1: Root cause marked right by <@${data.user}>` : `:-1: Root cause marked wrong by <@${data.user}>`, [
    ACTIONS.right,
    ACTIONS.wrong,
  ]);
  // The reason is optional: a modal asks for it; closing it keeps the rating.
  if (rating === 'wrong' && data.triggerId && deps.slack) {
    const metadata = JSON.stringify({ value: data.value, channel: data.channel, messageTs: data.messageTs });
    await deps.slack.call(
      'views.open',
      {
        trigger_id: data.triggerId,
        view: {
          type: 'modal',
          callback_id: REASON_VIEW,
          private_metadata: metadata.length <= 3000 ? metadata : JSON.stringify({ value: { f: data.value.f, s: data.value.s } }),
          title: { type: 'plain_text', text: 'What was the cause?' },
          submit: { type: 'plain_text', text: 'Save' },
          close: { type: 'plain_text', text: 'Skip' },
          blocks: [
            {
              type: 'input',
              block_id: 'reason',
              optional: true,
              label: { type: 'plain_text', text: 'What was wrong with the root cause? (optional)' },
              element: { type: 'plain_text_input', action_id: 'reason', multiline: true, max_length: 3000 },
            },
          ],
        },
      },
      signal,
    );
  }
}

async function silence(data: InteractionJobData, deps: InteractionDeps, signal: AbortSignal, update: Update, tell: Tell) {
  if (!deps.alertmanager) throw new Error('ALERTMANAGER_URL is not set, so no silence can be created');
  const labels = data.value.m ?? (data.value.alertname ? { alertname: data.value.alertname } : {});
  const matchers = exactMatchers(labels);
  if (matchers.length === 0) throw new Error('the card names no labels to silence');
  const now = deps.now?.() ?? new Date();
  const until = new Date(now.getTime() + SILENCE_MS);
  const id = await deps.alertmanager.createSilence(
    {
      matchers,
      startsAt: now,
      endsAt: until,
      createdBy: `slack:${data.user}`,
      comment: `Silenced for 2 h from the alert-annotator card in Slack by user ${data.user}`,
    },
    signal,
  );
  deps.log.info({ silenceId: id, matchers: matchers.length }, 'silence created from slack');
  await update(`:no_bell: Silenced by <@${data.user}> until ${slackTime(until)} (silence ${id.slice(0, 8)})`, [ACTIONS.silence]);
  if (!data.blocks) await tell(`:no_bell: Silenced until ${slackTime(until)}.`);
}

async function reanalyze(data: InteractionJobData, deps: InteractionDeps, signal: AbortSignal, tell: Tell) {
  if (!deps.reanalyze) throw new Error('this service cannot re-analyze (no worker pipeline)');
  if (!data.value.k) throw new Error('the card does not name its alert group (group key too long for a button)');
  await tell(':arrows_counterclockwise: Re-analyzing: gathering fresh evidence…');
  const done = await deps.reanalyze(data.value.k, signal);
  if (!done) throw new Error('the group is no longer remembered (its state expired), so it cannot be re-analyzed');
  await tell(`:arrows_counterclockwise: Re-analysis done; the card is updated${done.verdict ? ` (${done.verdict})` : ''}.`);
}
