import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configSchema, loadConfig, secretValues, unknownSettings, webhookAuthProblem } from '../src/config';

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

describe('unknown variables with one of our prefixes', () => {
  it('are reported by name with the nearest known setting; other variables are left alone', () => {
    const env = {
      WEBHOOK_BEARER_TOKN: 'secret-value-never-echoed',
      LLM_MAX_OUTPUT_TOKEN: '500',
      slack_channel: 'C1',
      LOKI_URL: 'http://loki:3100',
      OPENAI_API_KEY_FILE: '/run/secrets/key',
      // Kubernetes service links for Services named redis and loki, OpenTelemetry's SDK, the OpenAI client, the shell.
      REDIS_PORT: 'tcp://10.0.0.3:6379',
      REDIS_PORT_6379_TCP_ADDR: '10.0.0.3',
      LOKI_SERVICE_HOST: '10.0.0.4',
      OTEL_RESOURCE_ATTRIBUTES: 'env=prod',
      OPENAI_ORG_ID: 'org-1',
      HOME: '/root',
      TEST_REDIS_URL: 'redis://x',
    };
    expect(unknownSettings(env)).toEqual([
      'LLM_MAX_OUTPUT_TOKEN is not a setting; did you mean LLM_MAX_OUTPUT_TOKENS?',
      'WEBHOOK_BEARER_TOKN is not a setting; did you mean WEBHOOK_BEARER_TOKEN?',
      // Names are case-sensitive: this one is not read either.
      'slack_channel is not a setting; did you mean SLACK_CHANNEL?',
    ]);
    expect(unknownSettings(env).join('\n')).not.toContain('secret-value-never-echoed');
  });
});

describe('webhook credentials', () => {
  it('are required for a process that receives webhooks, unless WEBHOOK_AUTH=none says otherwise', () => {
    expect(webhookAuthProblem(loadConfig({}))).toMatch(/WEBHOOK_BEARER_TOKEN or WEBHOOK_BASIC_AUTH/);
    expect(webhookAuthProblem(loadConfig({ ROLE: 'receiver' }))).toBeDefined();
    expect(webhookAuthProblem(loadConfig({ WEBHOOK_BEARER_TOKEN: 'long-enough-token' }))).toBeUndefined();
    expect(webhookAuthProblem(loadConfig({ WEBHOOK_BASIC_AUTH: 'am:pass' }))).toBeUndefined();
    expect(webhookAuthProblem(loadConfig({ WEBHOOK_AUTH: 'none' }))).toBeUndefined();
    // A worker takes no webhooks.
    expect(webhookAuthProblem(loadConfig({ ROLE: 'worker' }))).toBeUndefined();
  });

  it('WEBHOOK_AUTH=none next to a credential is a contradiction, and an unknown value an error', () => {
    expect(() => loadConfig({ WEBHOOK_AUTH: 'none', WEBHOOK_BEARER_TOKEN: 'long-enough-token' })).toThrow(/WEBHOOK_AUTH/);
    expect(() => loadConfig({ WEBHOOK_AUTH: 'off' })).toThrow(/WEBHOOK_AUTH/);
  });
});

describe('the README', () => {
  it('documents every configuration variable', () => {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const missing = Object.keys(configSchema.shape).filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
