import { atLeast, highestSeverity, normaliseSeverity, routeRecords } from '../src/publish/routing';

describe('routing by severity', () => {
  it.each([
    ['critical', 'critical'],
    ['PAGE', 'critical'],
    ['P1', 'critical'],
    ['high', 'error'],
    ['error', 'error'],
    ['warning', 'warning'],
    ['warn', 'warning'],
    ['info', 'info'],
    ['none', 'info'],
    ['', 'info'],
    [undefined, 'info'],
    ['something-new', 'warning'],
  ])('reads the severity label %p as %s', (raw, expected) => {
    expect(normaliseSeverity(raw)).toBe(expected);
  });

  it('sends Slack everything and PagerDuty only critical alerts by default', () => {
    const records = [{ severity: 'info' }, { severity: 'warning' }, { severity: 'critical' }, { severity: 'none' }];
    expect(routeRecords(records, 'info')).toEqual(records);
    expect(routeRecords(records, 'critical')).toEqual([{ severity: 'critical' }]);
    expect(routeRecords(records, 'warning')).toEqual([{ severity: 'warning' }, { severity: 'critical' }]);
  });

  it('never pages for an unknown severity label while the minimum is critical', () => {
    expect(atLeast('sev-unknown', 'critical')).toBe(false);
    expect(atLeast('sev-unknown', 'warning')).toBe(true);
  });

  it('names the highest severity of a group', () => {
    expect(highestSeverity([{ severity: 'warning' }, { severity: 'page' }, { severity: 'info' }])).toBe('critical');
    expect(highestSeverity([])).toBe('info');
  });
});
