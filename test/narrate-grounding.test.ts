import { groundingProblems } from '../src/narrate/grounding';
import type { NarrationBody } from '../src/model/narration';
import { sampleInput } from './narrate-input';

const answer = (over: Partial<NarrationBody>): NarrationBody => ({
  summary: 'High 5xx error rate on api',
  rootCause: 'api error ratio rose at 22:41 [M1]',
  evidence: ['M1'],
  actions: ['Check api dashboards'],
  confidence: 'low',
  ...over,
});

describe('grounding of a model answer', () => {
  test('accepts an answer that cites existing ids and names only known services', () => {
    expect(groundingProblems(answer({}), sampleInput())).toEqual([]);
  });

  test('accepts ordinary hyphenated words, metric names from findings, label values and masked values', () => {
    const a = answer({
      rootCause: 'A follow-up to the roll-out of api: http_request_duration_seconds rose on api-1 and api-3 [M2], user <EMAIL_1>',
      evidence: ['M2'],
      actions: ['Open https://runbooks.example.com/api/high-error-rate', 'Do a read-only check of the demo job'],
    });
    expect(groundingProblems(a, sampleInput())).toEqual([]);
  });

  test('rejects ids that are not findings, cited or inline', () => {
    const problems = groundingProblems(answer({ rootCause: 'api, see [T4]', evidence: ['M1', 'L7'] }), sampleInput());
    expect(problems).toEqual(['cites ids that are not in FINDINGS: L7, T4']);
  });

  test('rejects an answer without evidence when there are findings to cite', () => {
    expect(groundingProblems(answer({ evidence: [] }), sampleInput())[0]).toMatch(/"evidence" is empty/);
  });

  test('rejects a service the model made up, and one only the log data mentions', () => {
    const problems = groundingProblems(answer({ rootCause: 'api waits on billing-api [M1]; ledger-db too' }), sampleInput());
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('billing-api');
    expect(problems[0]).toContain('ledger-db');
  });
});
