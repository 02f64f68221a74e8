import { loadIncidents, runIncident } from '../src/demo';
import { VERDICT_LABELS } from '../src/model/verdict';

/**
 * The Slack card of every shipped example incident (examples/incidents/), as the pipeline
 * renders it from the real analysis. A change to the card's layout, the verdict rules or
 * the analysis shows here as a snapshot diff to review, not as a silent change.
 */
describe('the card of each shipped example incident', () => {
  const incidents = loadIncidents();

  it('ships example incidents', () => {
    expect(incidents.length).toBeGreaterThan(0);
  });

  it.each(incidents.map((i) => [i.id, i] as const))('%s opens with the verdict and matches its snapshot', async (_id, incident) => {
    const result = await runIncident(incident);
    const message = result.messages[0];
    expect(message).toBeDefined();
    const first = message!.blocks[1];
    const line = first?.type === 'section' && 'text' in first ? (first.text.text.split('\n')[0] ?? '') : '';
    const verdict = result.records.find((r) => r.status === 'firing')?.verdict;
    expect(verdict).toBeDefined();
    expect(line).toContain(`*${VERDICT_LABELS[verdict!]}*`);
    expect(message).toMatchSnapshot();
  });
});
