import { mergeView, type GroupView } from './group-view';
import { buildSlackMessage, type SlackMessage } from './slack-blocks';
import type { PublishEvent, PublishResult, Publisher } from './types';

/**
 * A Slack "publisher" that sends nothing: it builds the group's message exactly as the Slack
 * publishers do (the group's view merged event by event, then the card) and keeps it, for
 * `alert-annotator demo` to show. Memory only, one process.
 */
export class SlackPreview implements Publisher {
  readonly name = 'slack' as const;
  readonly messages: { groupKey: string; kind: PublishEvent['kind']; message: SlackMessage }[] = [];
  private readonly views = new Map<string, GroupView>();

  constructor(private readonly opts: { now: () => Date; grafanaUrl?: string; serviceLabels: readonly string[] }) {}

  async publish(event: PublishEvent): Promise<PublishResult> {
    const groupKey = event.payload.groupKey;
    const { view } = mergeView(this.views.get(groupKey), event.records);
    this.views.set(groupKey, view);
    const message = buildSlackMessage(view, event.payload, {
      now: this.opts.now(),
      serviceLabels: this.opts.serviceLabels,
      ...(this.opts.grafanaUrl ? { grafanaUrl: this.opts.grafanaUrl } : {}),
    });
    this.messages.push({ groupKey, kind: event.kind, message });
    return { target: 'slack', published: false };
  }
}
