import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Jobs by queue name, then by state: what `alert_annotator_queue_jobs{queue,state}` reports. */
export type QueueDepth = Record<string, Record<string, number>>;

/**
 * The service's own metrics for GET /metrics. One registry per service instance (not
 * prom-client's global), so tests can build several apps in one process.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly webhookRequests = new Counter({
    name: 'alert_annotator_webhook_requests_total',
    help: 'Webhook requests by HTTP status code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly alertsReceived = new Counter({
    name: 'alert_annotator_alerts_received_total',
    help: 'Alerts received in webhook notifications, by status.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly jobs = new Counter({
    name: 'alert_annotator_jobs_total',
    help: 'Jobs finished by the worker, by outcome (annotated, skipped, retried, failed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly records = new Counter({
    name: 'alert_annotator_records_total',
    help: 'Annotation records produced, by narrator kind.',
    labelNames: ['narrator'] as const,
    registers: [this.registry],
  });
  readonly publishFailures = new Counter({
    name: 'alert_annotator_publish_failures_total',
    help: 'Publish attempts that failed, by target, reason and route (ROUTES_FILE; "default" without one).',
    labelNames: ['target', 'reason', 'route'] as const,
    registers: [this.registry],
  });
  readonly llmDuration = new Histogram({
    name: 'alert_annotator_llm_request_duration_seconds',
    help: 'Duration of narration calls to the model, by outcome (ok, failed).',
    labelNames: ['outcome'] as const,
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120],
    registers: [this.registry],
  });
  readonly llmTokens = new Counter({
    name: 'alert_annotator_llm_tokens_total',
    help: 'Tokens the model counted for narration calls, by kind (prompt, completion).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly llmCalls = new Counter({
    name: 'alert_annotator_llm_calls_total',
    help: 'Model calls made for narrations, and narrations that went out without the model because LLM_MAX_CALLS_PER_HOUR was reached (outcome=capped).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly feedback = new Counter({
    name: 'alert_annotator_feedback_total',
    help: 'Ratings of notes from the Slack card, by verdict (right, wrong): accuracy as rated by on-call.',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });
  readonly chartUploads = new Counter({
    name: 'alert_annotator_chart_uploads_total',
    help: 'Charts for the Slack thread, by outcome: uploaded, skipped (nothing to draw), failed (the message went out without it).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readDepth?: () => Promise<QueueDepth>;
  private readDeadLetters?: () => Promise<number>;
  readonly queueDepth: Gauge<'queue' | 'state'>;
  readonly deadLetters: Gauge;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect() with its own `this`
    const metrics = this;
    this.queueDepth = new Gauge({
      name: 'alert_annotator_queue_jobs',
      help: 'Jobs by queue (annotate: notifications and clicks; annotate-narrate: narration follow-ups) and state.',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        if (!metrics.readDepth) return;
        try {
          const counts = await metrics.readDepth();
          for (const [queue, byState] of Object.entries(counts))
            for (const [state, n] of Object.entries(byState)) this.set({ queue, state }, n);
        } catch {
          // Redis down: keep the last values; /-/ready reports the outage.
        }
      },
    });
    this.deadLetters = new Gauge({
      name: 'alert_annotator_dead_letters',
      help: 'Jobs that failed for good and wait in the dead-letter list (alert-annotator failed list).',
      registers: [this.registry],
      async collect() {
        if (!metrics.readDeadLetters) return;
        try {
          this.set(await metrics.readDeadLetters());
        } catch {
          // Redis down: keep the last value.
        }
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** How queue depth is read at scrape time. */
  setQueueDepthReader(read: () => Promise<QueueDepth>): void {
    this.readDepth = read;
  }

  /** How the dead-letter count is read at scrape time. */
  setDeadLetterReader(read: () => Promise<number>): void {
    this.readDeadLetters = read;
  }
}
