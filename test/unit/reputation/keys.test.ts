// Reputation keys: client networks (IPv4 /24, IPv6 /64, mapped addresses), the authenticated domain only
// (SPF pass of the MAIL FROM domain, aligned DKIM pass of the From domain), the header round trip.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DKIM_RESULT_KEY } from '../../../src/checks/dkim-dmarc.ts';
import { SPF_RESULT_KEY } from '../../../src/checks/spf.ts';
import { authenticatedDomain, formatKeysHeader, keysOf, networkOf, parseKeyId, parseKeysHeader } from '../../../src/reputation/keys.ts';

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

test('authenticatedDomain: the From address is found in a linear scan; a From of a megabyte with no address ends at once (the pattern it replaces backtracked for minutes)', { timeout: 60_000 }, () => {
  const dkim = new Map<string, unknown>([[DKIM_RESULT_KEY, [{ status: { result: 'pass' }, signingDomain: 'signer.example' }]]]);
  // the first word with an '@' between other characters, as before
  assert.equal(authenticatedDomain('', 'x, @y, z@ news@signer.example other@else.example', dkim), 'signer.example');
  assert.equal(authenticatedDomain('', 'a@b@signer.example;', dkim), 'signer.example');
  assert.equal(authenticatedDomain('', 'no address here', dkim), undefined);
  assert.equal(authenticatedDomain('', 'v'.repeat(1_000_000), dkim), undefined);
  assert.equal(authenticatedDomain('', `${'v'.repeat(1_000_000)} news@signer.example`, dkim), 'signer.example');
});
