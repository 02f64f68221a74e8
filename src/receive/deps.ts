import type { Logger } from 'pino';
import type { Metrics } from '../metrics';
import type { WebhookPayload } from '../model/alert';
import type { ChangeEventInput } from '../model/context';
import type { EnqueueResult } from '../model/queue';
import type { InteractionJobData } from '../model/interaction';
import type { AuthConfig } from './auth';

export interface ReceiverDeps {
  /**
   * Resolves only once Redis holds the job; rejects when the queue cannot be written.
   * Absent in a worker-only process, which serves no webhook.
   */
  enqueue?(payload: WebhookPayload, traceparent?: string): Promise<EnqueueResult>;
  /** Stores a change event (POST /events/change); absent without LOKI_URL, which answers 503. */
  storeChange?(event: ChangeEventInput & { time: string }): Promise<void>;
  /** Queues a verified Slack interaction (POST /slack/interactions); absent in a worker-only process. */
  enqueueInteraction?(data: InteractionJobData): Promise<unknown>;
  /** SLACK_SIGNING_SECRET: without it every interaction is refused. */
  slackSigningSecret?: string;
  /** Is Redis reachable? Must answer within a second or two. */
  ready(): Promise<boolean>;
  metrics: Metrics;
  log: Logger;
  auth: AuthConfig;
  maxBodyBytes: number;
  /** The current request span's W3C traceparent, for the job (telemetry provides it). */
  traceparent?: () => string | undefined;
}
