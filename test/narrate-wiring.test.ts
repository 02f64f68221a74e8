import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigError, loadConfig } from '../src/config';
import { GuardedNarrator } from '../src/narrate/guard';
import { loadPromptTemplate, parsePromptTemplate } from '../src/narrate/prompt';
import { buildNarrator } from '../src/wiring';

const log = pino({ level: 'silent' });

describe('buildNarrator', () => {
  test('LLM_PROVIDER=none is the template narrator', () => {
    expect(buildNarrator(loadConfig({ LLM_PROVIDER: 'none' }), log)).toBeUndefined();
  });

  test('ollama is the default provider, guarded and named after its model', () => {
    const n = buildNarrator(loadConfig({ OLLAMA_MODEL: 'llama3.2:3b' }), log);
    expect(n).toBeInstanceOf(GuardedNarrator);
    expect(n?.name).toBe('ollama:llama3.2:3b');
  });

  test('openai works with a compatible base URL and no key', () => {
    const n = buildNarrator(
      loadConfig({ LLM_PROVIDER: 'openai', OPENAI_BASE_URL: 'http://127.0.0.1:8000/v1', OPENAI_MODEL: 'qwen2.5-7b' }),
      log,
    );
    expect(n?.name).toBe('openai:qwen2.5-7b');
  });

  test('an unknown provider is a configuration error, never a fallback to a hosted API', () => {
    expect(() => loadConfig({ LLM_PROVIDER: 'anthropic' })).toThrow(ConfigError);
    expect(() => loadConfig({ LLM_PROVIDER: 'anthropic' })).toThrow(/LLM_PROVIDER/);
  });

  test('a prompt version without its file fails at start, not at the first alert', () => {
    expect(() => buildNarrator(loadConfig({ LLM_PROVIDER: 'ollama', LLM_PROMPT_VERSION: 'narrate-v999' }), log)).toThrow(/narrate-v999/);
  });
});

describe('prompt template files', () => {
  test('narrate-v1 carries its id and the three sections', () => {
    const t = loadPromptTemplate('narrate-v1');
    expect(t.id).toBe('narrate-v1');
    expect(t.user).toContain('{{findings}}');
    expect(t.correction).toContain('{{problems}}');
  });

  test('a template without a section is rejected with the section named', () => {
    expect(() => parsePromptTemplate('---\nid: x\n---\n## system\nhi\n## user\nthere\n', 'x')).toThrow('missing "## correction"');
  });

  test('templates load from another folder by id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prompts-'));
    writeFileSync(join(dir, 'custom-v2.md'), '---\nid: custom-v2\n---\n## system\ns\n## user\n{{alert}}\n## correction\n{{problems}}\n');
    expect(loadPromptTemplate('custom-v2', dir)).toEqual({ id: 'custom-v2', system: 's', user: '{{alert}}', correction: '{{problems}}' });
  });
});
