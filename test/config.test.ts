import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configSchema, loadConfig, secretValues } from '../src/config';

describe('configuration', () => {
  it('applies the documented defaults to an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 8080,
      ROLE: 'all',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'alert-annotator',
      LLM_PROVIDER: 'ollama',
      OLLAMA_HOST: 'http://127.0.0.1:11434',
      LLM_TIMEOUT_MS: 60000,
      SLACK_API_URL: 'https://slack.com/api',
      PAGERDUTY_EVENTS_URL: 'https://events.pagerduty.com/v2/enqueue',
      LOG_LEVEL: 'info',
    });
    expect(c.LOKI_URL).toBeUndefined();
  });

  it('treats empty strings as unset', () => {
    const c = loadConfig({ LOKI_URL: '', PORT: ' ', LLM_PROVIDER: '' });
    expect(c.LOKI_URL).toBeUndefined();
    expect(c.PORT).toBe(8080);
    expect(c.LLM_PROVIDER).toBe('ollama');
  });

  it('reports every problem at once, each with the variable name, and never the value', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ PORT: 'eighty', ROLE: 'boss', LOKI_URL: 'not a url', LLM_PROVIDER: 'cloud', SLACK_BOT_TOKEN: 'xoxb-secret-value-1' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const names = error!.problems.map((p) => p.split(':')[0]);
    expect(names).toEqual(expect.arrayContaining(['PORT', 'ROLE', 'LOKI_URL', 'LLM_PROVIDER', 'SLACK_CHANNEL']));
    expect(error!.message).not.toContain('xoxb-secret-value-1');
  });

  it('rejects a malformed stream-label map', () => {
    expect(() => loadConfig({ LOKI_STREAM_LABELS: 'service:service_name' })).toThrow(ConfigError);
  });

  it('holds the service labels and the stream-label map parsed, defaults included', () => {
    const c = loadConfig({ SERVICE_LABELS: ' component, app ,', LOKI_STREAM_LABELS: 'service=service_name, pod=pod' });
    expect(c.SERVICE_LABELS).toEqual(['component', 'app']);
    expect(c.LOKI_STREAM_LABELS).toEqual([
      ['service', 'service_name'],
      ['pod', 'pod'],
    ]);
    const d = loadConfig({});
    expect(d.SERVICE_LABELS).toEqual(['service', 'service_name', 'app', 'job', 'container']);
    expect(d.LOKI_STREAM_LABELS).toContainEqual(['service', 'service_name']);
    // A list of only separators names no label: the defaults apply, as when it is unset.
    expect(loadConfig({ SERVICE_LABELS: ' , ' }).SERVICE_LABELS).toEqual(d.SERVICE_LABELS);
  });

  it('rejects an unknown LLM provider instead of falling back to a hosted API', () => {
    expect(() => loadConfig({ LLM_PROVIDER: 'anthropic' })).toThrow(/LLM_PROVIDER/);
  });

  it('reads secrets from <NAME>_FILE and lists them for redaction', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aa-config-'));
    writeFileSync(join(dir, 'token'), 'file-bearer-token-1\n');
    const c = loadConfig({ WEBHOOK_BEARER_TOKEN_FILE: join(dir, 'token'), WEBHOOK_BASIC_AUTH: 'am:pass-word' });
    expect(c.WEBHOOK_BEARER_TOKEN).toBe('file-bearer-token-1');
    expect(secretValues(c)).toEqual(expect.arrayContaining(['file-bearer-token-1', 'am:pass-word', 'pass-word']));
  });

  it('says which _FILE cannot be read, and refuses a secret given twice', () => {
    expect(() => loadConfig({ OPENAI_API_KEY_FILE: '/nonexistent/key' })).toThrow(/OPENAI_API_KEY_FILE: cannot read/);
    expect(() => loadConfig({ PAGERDUTY_ROUTING_KEY: 'a', PAGERDUTY_ROUTING_KEY_FILE: '/x' })).toThrow(/choose one/);
  });
});

describe('the README', () => {
  it('documents every configuration variable', () => {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const missing = Object.keys(configSchema.shape).filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
