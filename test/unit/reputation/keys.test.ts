// Reputation keys: client networks (IPv4 /24, IPv6 /64, mapped addresses), the authenticated domain only
// (SPF pass of the MAIL FROM domain, aligned DKIM pass of the From domain), the header round trip.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { DKIM_RESULT_KEY } from '../../../src/checks/dkim-dmarc.ts';
import { SPF_RESULT_KEY } from '../../../src/checks/spf.ts';
import { authenticatedDomain, formatKeysHeader, fromDomain, keysOf, networkOf, parseKeyId, parseKeysHeader } from '../../../src/reputation/keys.ts';

test('networkOf: IPv4 and IPv6 prefixes, IPv4-mapped IPv6, junk refused', () => {
  assert.equal(networkOf('198.51.100.77', 24, 64), '198.51.100.0/24');
  assert.equal(networkOf('198.51.100.77', 16, 64), '198.51.0.0/16');
  assert.equal(networkOf('198.51.100.77', 32, 64), '198.51.100.77/32');
  assert.equal(networkOf('::ffff:198.51.100.77', 24, 64), '198.51.100.0/24');
  assert.equal(networkOf('2001:db8:1:2:3:4:5:6', 24, 64), '2001:db8:1:2::/64');
  assert.equal(networkOf('2001:db8::1', 24, 48), '2001:db8::/48');
  assert.equal(networkOf('2001:db8:ab:cdef::1', 24, 56), '2001:db8:ab:cd00::/56');
  assert.equal(networkOf('not-an-ip', 24, 64), undefined);
});

const spf = (result: string, domain: string, identity = 'mailfrom'): Map<string, unknown> => new Map([[SPF_RESULT_KEY, { result, domain, identity }]]);

test('the domain is a key only when authenticated: SPF pass of MAIL FROM, or DKIM pass aligned with From', () => {
  assert.equal(authenticatedDomain('a@Good.Example', undefined, spf('pass', 'good.example')), 'good.example');
  assert.equal(authenticatedDomain('a@good.example', undefined, spf('softfail', 'good.example')), undefined);
  assert.equal(authenticatedDomain('a@good.example', undefined, new Map()), undefined);
  // a null sender's SPF is of the HELO name: no sender domain
  assert.equal(authenticatedDomain('', undefined, spf('pass', 'helo.example', 'helo')), undefined);
  const dkim = new Map<string, unknown>([[DKIM_RESULT_KEY, [{ status: { result: 'pass' }, signingDomain: 'signer.example' }]]]);
  assert.equal(authenticatedDomain('bounce@esp.example', 'News <news@signer.example>', dkim), 'signer.example');
  // signed by another domain than From's: not this From
  assert.equal(authenticatedDomain('bounce@esp.example', 'x@victim.example', dkim), undefined);
});

test('keysOf: the network always, the domain when authenticated and reputation.domain is on', () => {
  const opts = { ipv4_prefix: 24, ipv6_prefix: 64, domain: true };
  const src = { clientIp: '192.0.2.9', mailFrom: 'a@good.example', from: undefined, results: spf('pass', 'good.example') };
  assert.deepEqual(keysOf(src, opts), [{ kind: 'ip', value: '192.0.2.0/24' }, { kind: 'domain', value: 'good.example' }]);
  assert.deepEqual(keysOf(src, { ...opts, domain: false }), [{ kind: 'ip', value: '192.0.2.0/24' }]);
});

test('the header round trip; anything else in it is ignored', () => {
  const keys = [{ kind: 'ip' as const, value: '2001:db8::/64' }, { kind: 'domain' as const, value: 'good.example' }];
  assert.deepEqual(parseKeysHeader(formatKeysHeader(keys)), keys);
  assert.deepEqual(parseKeysHeader('ip=1.2.3.0/24; helo=x; domain=a b'), [{ kind: 'ip', value: '1.2.3.0/24' }]);
});

test('parseKeyId: a CLI KEY', () => {
  const o = { ipv4_prefix: 24, ipv6_prefix: 64 };
  assert.deepEqual(parseKeyId('ip:192.0.2.77', o), { kind: 'ip', value: '192.0.2.0/24' });
  assert.deepEqual(parseKeyId('192.0.2.0/24', o), { kind: 'ip', value: '192.0.2.0/24' });
  assert.deepEqual(parseKeyId('domain:Good.Example', o), { kind: 'domain', value: 'good.example' });
  assert.deepEqual(parseKeyId('good.example', o), { kind: 'domain', value: 'good.example' });
  assert.equal(parseKeyId('ip:nonsense', o), undefined);
});

const ALIGNED = (domain: string): Map<string, unknown> => new Map<string, unknown>([[DKIM_RESULT_KEY, [{ status: { result: 'pass' }, signingDomain: domain }]]]);

test('authenticatedDomain: the From address is found in a linear scan; a From of a megabyte with no address ends at once (the pattern it replaces backtracked for minutes)', () => {
  const dkim = ALIGNED('signer.example');
  // the first word with an '@' between other characters, as before
  assert.equal(authenticatedDomain('', 'x, @y, z@ news@signer.example other@else.example', dkim), 'signer.example');
  assert.equal(authenticatedDomain('', 'a@b@signer.example;', dkim), 'signer.example');
  assert.equal(authenticatedDomain('', 'no address here', dkim), undefined);
  // a synchronous call over the test's timeout is not stopped by it (the test passes when it ends): the long inputs
  // run under a vm timeout, which does stop a backtracking pattern (the old one takes minutes; the scan milliseconds)
  const long = (): (string | undefined)[] => [authenticatedDomain('', 'v'.repeat(1_000_000), dkim), authenticatedDomain('', `${'v'.repeat(1_000_000)} news@signer.example`, dkim)];
  assert.deepEqual(runInNewContext('long()', { long }, { timeout: 10_000 }), [undefined, 'signer.example']);
});

test('fromDomain: the scan reads short fields as the pattern /[^\\s,;]+@[^\\s,;]+/ did (quoted and commented @, groups, lists, encoded words, no brackets, Unicode blanks)', () => {
  const byPattern = (from: string): string | undefined => {
    const m = /<([^<>]*)>/.exec(from) ?? /([^\s,;]+@[^\s,;]+)/.exec(from);
    const addr = m?.[1] ?? '';
    const at = addr.lastIndexOf('@');
    return at < 0 ? undefined : addr.slice(at + 1).replace(/>$/, '').toLowerCase().replace(/\.$/, '') || undefined;
  };
  const pieces = ['a', 'D.', '@', '@', '<', '>', '"', '(', ')', ',', ';', ':', ' ', '\t', '\r\n', '\u00a0', '\u2028', '\ufeff', '=?utf-8?q?x@y?=', 'é', 'x@d.example', '\\'];
  const fields = ['"a@b" <c@d.example>', '"a@b, x" c@d', '(x@y) z@w', 'grp: a@b.c, d@e.f;', 'a@b, c@d', '=?utf-8?q?a@b?= <c@d>', 'Name c@d.example.', '@x y@', 'a@@', '@@@', '<>', '<> a@b', 'a\u00a0b@c'];
  let seed = 20261207;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 20_000; i++) fields.push(Array.from({ length: next(12) }, () => pieces[next(pieces.length)] ?? '').join(''));
  for (const from of fields) {
    assert.equal(fromDomain(from), byPattern(from), JSON.stringify(from));
  }
});
