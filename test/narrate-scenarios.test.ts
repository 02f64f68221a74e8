import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze } from '../src/analyze';
import { evidenceBundleSchema } from '../src/model/evidence';
import { groundingProblems } from '../src/narrate/grounding';
import { buildPrompt, loadPromptTemplate, PROMPT_BUDGET_CHARS } from '../src/narrate/prompt';
import { indicatorWithoutLogText } from '../src/narrate/untrusted';
import type { NarrationBody, NarrationInput } from '../src/model/narration';
import { isUntrustedFinding } from '../src/model/analysis';
import { scrubInput } from '../src/pipeline';
import { narrateFromPrompt } from './fakes/llm';

/**
 * The guard against the analysis' real output: over every scenario bundle, a faithful
 * narration (restating the findings and naming the suspects) must pass grounding, and the
 * prompt must fit its budget. A check that rejects good answers would silently turn every
 * note into the template.
 */

const DIR = join(__dirname, 'scenarios', 'bundles');
const bundles = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const template = loadPromptTemplate('narrate-v2');

function inputOf(file: string): NarrationInput {
  const bundle = evidenceBundleSchema.parse(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
  const p = bundle.payload;
  return scrubInput(
    p,
    p.alerts.filter((a) => a.status === 'firing'),
    analyze(bundle),
  );
}

describe.each(bundles)('scenario %s', (file) => {
  const input = inputOf(file);
  const prompt = buildPrompt(input, template);

  test('the prompt fits the budget and carries every finding id', () => {
    expect(prompt.system.length + prompt.user.length).toBeLessThanOrEqual(PROMPT_BUDGET_CHARS);
    for (const f of input.analysis.findings) expect(prompt.user).toContain(`${f.id} |`);
  });

  test('a narration built from the prompt alone is grounded', () => {
    expect(groundingProblems(narrateFromPrompt(prompt.user) as NarrationBody, input)).toEqual([]);
  });

  test('a narration restating the top suspect and the trusted findings that name no other service is grounded', () => {
    const top = input.analysis.suspects[0];
    const alerting = input.alerts.map((a) => a.labels.service ?? a.labels.service_name ?? a.labels.app ?? a.labels.job);
    const others = (input.analysis.services ?? []).filter((s) => s !== top?.service && !alerting.includes(s));
    const namesOther = (text: string) => others.some((s) => new RegExp(`(?<![\\w.-])${s}(?![\\w-])`, 'i').test(text));
    const facts = input.analysis.findings.filter((f) => !isUntrustedFinding(f) && f.kind !== 'source' && !namesOther(f.text));
    const answer: NarrationBody = {
      summary: 'Incident summary',
      rootCause: `${top ? `${top.service} is the top suspect. ` : 'Not determined. '}${facts.map((f) => `[${f.id}] ${f.text}`).join(' ')}`,
      evidence: facts.map((f) => f.id),
      actions: top ? [`Check ${top.service}: ${indicatorWithoutLogText(top.indicator)}`] : [],
      confidence: 'low',
    };
    if (answer.actions.length === 0) answer.actions.push('Check the alert graph');
    const problems = groundingProblems(answer, input);
    // With no findings to cite, only the empty-evidence rule may speak.
    expect(problems.filter((p) => !(facts.length === 0 && p.includes('"evidence" is empty')))).toEqual([]);
  });

  test('a narration that blames another service the evidence names is rejected', () => {
    const top = input.analysis.suspects[0]?.service;
    const other = (input.analysis.services ?? []).find((s) => s !== top && !input.alerts.some((a) => Object.values(a.labels).includes(s)));
    if (!other) return; // one service only: nobody else to blame
    const answer = narrateFromPrompt(prompt.user) as NarrationBody;
    const problems = groundingProblems({ ...answer, rootCause: `${other} failed first [${answer.evidence.join(', ')}]` }, input);
    expect(problems.join('; ')).toContain(other);
  });
});
