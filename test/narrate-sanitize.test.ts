import { LINK_REMOVED, sanitizeFields, sanitizeText } from '../src/model/sanitize';

describe('sanitizeText', () => {
  test.each([
    ['<!channel> checkout is down', 'channel checkout is down'],
    ['ping <!here> now', 'ping here now'],
    ['<!everyone> look', 'everyone look'],
    ['tell <!subteam^S012AB|@oncall> please', 'tell a group please'],
    ['ask <@U024BE7LH> about it', 'ask a user about it'],
    ['ask <@W024BE7LH|bob> about it', 'ask bob about it'],
    ['see <#C024BE7LH|ops>', 'see #ops'],
    ['hey @channel and @here', 'hey channel and here'],
  ])('removes the mention in %j', (input, expected) => {
    expect(sanitizeText(input)).toBe(expected);
  });

  test('keeps e-mail-like text that is not a group ping', () => {
    expect(sanitizeText('mail ops@here.example')).toBe('mail ops@here.example');
  });

  test('drops links we did not build, keeping a label when there is one', () => {
    expect(sanitizeText('click <https://evil.example/x|here> or https://evil.example/y?a=1 or www.evil.example')).toBe(
      `click here or ${LINK_REMOVED} or ${LINK_REMOVED}`,
    );
  });

  test('keeps links under an allowed prefix, and only those', () => {
    const opts = { allowedUrls: ['https://grafana.example.com', 'https://runbooks.example.com/api/high-error-rate'] };
    expect(sanitizeText('see https://grafana.example.com/d/abc?x=1 and https://runbooks.example.com/api/high-error-rate', opts)).toBe(
      'see https://grafana.example.com/d/abc?x=1 and https://runbooks.example.com/api/high-error-rate',
    );
    expect(sanitizeText('not https://grafana.example.com.evil.example/d', opts)).toBe(`not ${LINK_REMOVED}`);
    expect(sanitizeText('<https://grafana.example.com/d/abc|dashboard>', opts)).toBe('<https://grafana.example.com/d/abc|dashboard>');
  });

  test('strips control characters and bidi overrides', () => {
    expect(sanitizeText('a\u0007b\u202ec\nd')).toBe('abc\nd');
  });

  test('sanitizeFields covers summary, root cause and every action', () => {
    const out = sanitizeFields({ summary: '<!here> x', rootCause: '<@U1> y', actions: ['http://a.example', 'ok'], confidence: 'low' });
    expect(out).toEqual({ summary: 'here x', rootCause: 'a user y', actions: [LINK_REMOVED, 'ok'], confidence: 'low' });
  });
});
