import pino, { type DestinationStream, type Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
  /** Exact values to mask wherever they appear in a log line (configured secrets). */
  secrets?: readonly string[];
  /** Where lines go; tests pass a stream and read what was logged. Default: stdout. */
  destination?: DestinationStream;
  /** Adds fields to every line (the telemetry module adds trace_id/span_id). */
  mixin?: () => Record<string, unknown>;
}

/** Paths that hold credentials in any object we log. */
const REDACT_PATHS = [
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.apiKey',
  '*.token',
  '*.password',
  '*.routing_key',
  'config.OPENAI_API_KEY',
  'config.SLACK_BOT_TOKEN',
  'config.SLACK_WEBHOOK_URL',
  'config.PAGERDUTY_ROUTING_KEY',
  'config.WEBHOOK_BEARER_TOKEN',
  'config.WEBHOOK_BASIC_AUTH',
];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The one logger factory. Besides pino's path redaction, configured secret values are
 * masked anywhere in the serialised line, so an error message quoting a URL or header
 * cannot leak them.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  const pattern = secrets.length ? new RegExp(secrets.map((s) => escapeRegExp(JSON.stringify(s).slice(1, -1))).join('|'), 'g') : null;
  const base = opts.destination ?? pino.destination({ dest: 1, sync: false });
  const destination: DestinationStream = pattern ? { write: (line: string) => base.write(line.replace(pattern, '[REDACTED]')) } : base;
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'alert-annotator' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      ...(opts.mixin ? { mixin: opts.mixin } : {}),
    },
    destination,
  );
}

/**
 * For errors that come in bursts (every reconnect attempt while Redis is down): the first is
 * written at once, then at most one line per `everyMs`, carrying how many were folded into it.
 */
export function throttled(everyMs = 10_000): (write: (suppressed: number) => void) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (write) => {
    const now = Date.now();
    if (now - last < everyMs) {
      suppressed++;
      return;
    }
    last = now;
    write(suppressed);
    suppressed = 0;
  };
}
