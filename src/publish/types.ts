import type { WebhookPayload } from '../model/alert';
import type { AnnotationRecord } from '../model/record';

/**
 * One event for the publishers: the records written for one group notification.
 * `initial` — first annotation of new firing alerts; `narration` — an improved record after
 * a delayed narration; `resolve` — alerts of the group resolved.
 */
export interface PublishEvent {
  kind: 'initial' | 'narration' | 'resolve';
  payload: Pick<
    WebhookPayload,
    'groupKey' | 'status' | 'receiver' | 'groupLabels' | 'commonLabels' | 'commonAnnotations' | 'externalURL' | 'truncatedAlerts'
  >;
  records: AnnotationRecord[];
  /** Makes an event about the same alerts a new one (a re-analysis asked for from Slack). */
  nonce?: string;
}

/** What a publisher reports back; `slackTs` is folded into the records it did not yet carry. */
export interface PublishResult {
  target: string;
  /** false when the target chose not to publish (routing by severity, nothing new). */
  published: boolean;
  slackTs?: string;
  /** The channel id of that message. */
  slackChannel?: string;
}

/**
 * One target (Loki, Slack, PagerDuty). Throws OutboundError: retryable errors are retried
 * by the job; permanent ones are logged and do not stop the other targets. Must be
 * idempotent across job retries.
 */
export interface Publisher {
  readonly name: 'loki' | 'slack' | 'pagerduty';
  publish(event: PublishEvent, signal: AbortSignal): Promise<PublishResult>;
}
