import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isUntrustedFinding, type Finding } from '../model/analysis';
import type { NarrationInput } from '../model/narration';
import { asData as clip, indicatorWithoutLogText } from './untrusted';

/**
 * Prompt templates are files (prompts/<id>.md) so wording changes are reviewed like code
 * and each record names the prompt that produced it (promptVersion).
 */
export interface PromptTemplate {
  id: string;
  system: string;
  user: string;
  correction: string;
}

export interface Prompt {
  version: string;
  system: string;
  user: string;
}

/** Above this the prompt is trimmed: findings beyond the first few add little and cost latency. */
export const PROMPT_BUDGET_CHARS = 6000;
const MAX_ALERTS = 8;
const MAX_FINDINGS = 14;
const MAX_LOG_FINDINGS = 8;
const FINDING_CHARS = 240;
const LOG_CHARS = 300;

/** The prompts/ folder: beside src/ in the repo, beside dist/ when built. */
function promptsDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'prompts');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    dir = dirname(dir);
  }
  throw new Error('prompts/ folder not found next to the application');
}

/** Parses a template file: front matter `id:`, then `## system`, `## user`, `## correction`. */
export function parsePromptTemplate(text: string, fallbackId: string): PromptTemplate {
  const body = text.replace(/<!--[\s\S]*?-->\n?/g, '');
  const id = /^---\n(?:[\s\S]*?\n)?id:\s*([^\n]+)\n[\s\S]*?---\n/.exec(body)?.[1]?.trim() ?? fallbackId;
  const sections = new Map<string, string>();
  const re = /^## (\w+)\n([\s\S]*?)(?=^## \w+\n|(?![\s\S]))/gm;
  for (let m = re.exec(body); m; m = re.exec(body)) sections.set(m[1]!, m[2]!.trim());
  const section = (name: string): string => {
    const s = sections.get(name);
    if (!s) throw new Error(`prompt ${id}: missing "## ${name}" section`);
    return s;
  };
  return { id, system: section('system'), user: section('user'), correction: section('correction') };
}

export function loadPromptTemplate(id: string, dir = promptsDir()): PromptTemplate {
  return parsePromptTemplate(readFileSync(join(dir, `${id}.md`), 'utf8'), id);
}

/** Fills {{name}}; a function replacement, so `$` in values is taken literally. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (m, name: string) => values[name] ?? m);
}

function labelList(labels: Record<string, string>, skip: Record<string, string> = {}): string {
  return Object.entries(labels)
    .filter(([k, v]) => skip[k] !== v)
    .map(([k, v]) => `${clip(k, 80)}=${clip(v, 80)}`)
    .join(', ');
}

function alertSection(input: NarrationInput): string {
  const { payload, alerts, analysis } = input;
  const common = payload.commonLabels;
  const lines = [
    `status: ${payload.status}; firing alerts annotated: ${alerts.length}; analysis confidence: ${analysis.confidence}`,
    `common labels: ${labelList(common) || '(none)'}`,
  ];
  const commonSummary = payload.commonAnnotations.summary;
  if (commonSummary) lines.push(`summary: ${clip(commonSummary, 200)}`);
  for (const a of alerts.slice(0, MAX_ALERTS)) {
    const own = labelList(a.labels, common);
    const parts = [`- since ${a.startsAt}`];
    if (own) parts.push(`labels: ${own}`);
    if (a.annotations.summary && a.annotations.summary !== commonSummary) parts.push(`summary: ${clip(a.annotations.summary, 160)}`);
    if (a.annotations.description) parts.push(`description: ${clip(a.annotations.description, 200)}`);
    lines.push(parts.join('; '));
  }
  if (alerts.length > MAX_ALERTS) lines.push(`- and ${alerts.length - MAX_ALERTS} more alerts of the same group`);
  const runbook = alerts[0]?.annotations.runbook_url ?? payload.commonAnnotations.runbook_url;
  if (runbook) lines.push(`runbook: ${clip(runbook, 300)}`);
  return lines.join('\n');
}

function suspectSection(input: NarrationInput): string {
  const s = input.analysis.suspects;
  if (s.length === 0) return '(none: no service stands out)';
  return s
    .map((x, i) => `${i + 1}. ${clip(x.service, 80)} | ${clip(indicatorWithoutLogText(x.indicator), 120)} | score ${x.score.toFixed(1)}`)
    .join('\n');
}

const findingLine = (f: Finding): string => `${f.id} | ${f.kind} | ${clip(f.service ?? '-', 80)} | ${clip(f.text, FINDING_CHARS)}`;
const logLine = (f: Finding): string => `${f.id} | ${clip(f.service ?? '-', 80)} | ${clip(f.text, LOG_CHARS)}`;

/**
 * The prompt for one narration: the alert context and the findings as compact structured
 * text (never raw series), findings that quote application output (log patterns, span
 * messages) only inside the delimited data section, trimmed to the budget by dropping the
 * lowest-ranked findings first. Every outside value goes through asData, so none can close
 * the data section or forge a section of its own.
 */
export function buildPrompt(input: NarrationInput, template: PromptTemplate, budget = PROMPT_BUDGET_CHARS): Prompt {
  const facts = input.analysis.findings.filter((f) => !isUntrustedFinding(f)).slice(0, MAX_FINDINGS);
  const logs = input.analysis.findings.filter(isUntrustedFinding).slice(0, MAX_LOG_FINDINGS);
  const alert = alertSection(input);
  const suspects = suspectSection(input);
  const render = (): string => {
    const data = logs.length ? logs.map(logLine).join('\n') : '(none)';
    // {{logs}} in narrate-v1, {{untrusted}} from narrate-v2 on: the same section.
    return fill(template.user, {
      alert,
      suspects,
      findings: facts.length ? facts.map(findingLine).join('\n') : '(none)',
      logs: data,
      untrusted: data,
    });
  };
  let user = render();
  while (template.system.length + user.length > budget && (logs.length > 1 || facts.length > 1)) {
    if (logs.length > 1 && (logs.length >= facts.length || facts.length <= 1)) logs.pop();
    else facts.pop();
    user = render();
  }
  return { version: template.id, system: template.system, user };
}

/** The corrective turn after a rejected answer. */
export function correctionMessage(template: PromptTemplate, problems: readonly string[]): string {
  return fill(template.correction, { problems: problems.map((p) => `- ${p}`).join('\n') });
}
