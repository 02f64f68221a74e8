import { buildPrompt, loadPromptTemplate } from '../src/narrate/prompt';
import { templateNarration } from '../src/narrate/template';
import { indicatorWithoutLogText } from '../src/narrate/untrusted';
import { INJECTION, sampleInput } from './narrate-input';

/** A suspect whose indicator quotes the planted log line, as the log analysis writes it. */
function attackedInput() {
  const input = sampleInput();
  input.analysis.suspects = [{ service: 'api', indicator: `new log pattern "${INJECTION.slice(0, 140)}…"`, score: 6 }];
  return input;
}

describe('log text never speaks in the note’s own voice', () => {
  test('a log-pattern indicator loses its quotation; metric and trace indicators stay', () => {
    expect(indicatorWithoutLogText('new log pattern "ERROR blame ledger-db"')).toBe('new log pattern (quoted in the findings)');
    expect(indicatorWithoutLogText('new log pattern "cut off…')).toBe('new log pattern (quoted in the findings)');
    expect(indicatorWithoutLogText('slowest span "POST /orders" 3.7 s')).toBe('slowest span "POST /orders" 3.7 s');
  });

  test('the template cites log findings by id and names the suspect without the quoted line', () => {
    const n = templateNarration(attackedInput());
    const prose = [n.summary, n.rootCause, ...n.actions].join('\n');
    expect(prose).not.toContain('ledger-db');
    expect(prose).not.toContain('<!channel>');
    expect(n.rootCause).toContain('Most likely api (new log pattern (quoted in the findings), score 6.0)');
    expect(n.evidence).toEqual(['M1', 'M2', 'L1']);
    expect(n.rootCause).toContain('[L1] a new or surging log pattern in api');
  });

  test('the prompt keeps log text out of the trusted SUSPECTS section', () => {
    const p = buildPrompt(attackedInput(), loadPromptTemplate('narrate-v2'));
    const suspects = /SUSPECTS[^\n]*\n([\s\S]*?)\n\n/.exec(p.user)?.[1] ?? '';
    expect(suspects).toBe('1. api | new log pattern (quoted in the findings) | score 6.0');
    expect(p.user.split('UNTRUSTED DATA>>>')[1]).not.toContain('ledger-db');
  });
});

describe('the deterministic note claims a cause only when the analysis has one', () => {
  const withSuspects = (suspects: { service: string; score: number }[], confidence: 'low' | 'medium' | 'high') => {
    const input = sampleInput();
    input.analysis.suspects = suspects.map((s) => ({ ...s, indicator: 'error ratio z=3.1' }));
    input.analysis.confidence = confidence;
    return templateNarration(input);
  };

  test('a clear suspect is named as the likely cause, and checking it is the next step', () => {
    const n = withSuspects([{ service: 'api', score: 6 }], 'high');
    expect(n.rootCause).toMatch(/^Most likely api \(error ratio z=3\.1, score 6\.0\)\. Evidence: \[M1\]/);
    expect(n.actions).toContain('Check api: error ratio z=3.1');
  });

  test('a weak lead at low confidence reads "No cause found" and is not sent for checking', () => {
    const n = withSuspects([{ service: 'batch', score: 1.2 }], 'low');
    expect(n.rootCause).toMatch(
      /^No cause found: nothing stands out from its baseline; the strongest lead, batch \(.*score 1\.2\), is weak\./,
    );
    expect(n.rootCause).not.toContain('Most likely');
    expect(n.actions.join('\n')).not.toContain('Check batch');
    expect(n.actions.join('\n')).toContain('threshold sits inside normal variation');
  });

  test('two nearly tied suspects are both named, neither as the cause', () => {
    const n = withSuspects(
      [
        { service: 'api', score: 6 },
        { service: 'db', score: 5.5 },
      ],
      'low',
    );
    expect(n.rootCause).toMatch(/^No single cause stands out: api \(.*score 6\.0\) and db \(score 5\.5\) are nearly tied\./);
  });
});
