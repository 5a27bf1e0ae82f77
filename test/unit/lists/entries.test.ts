// List entries: CIDR blocks (IPv4, IPv6, mapped), host names and ".subdomains", mail addresses and domains,
// case and IDN; each bad entry refused with what was expected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntrySet, parseEntry } from '../../../src/lists/entries.ts';

function set(kind: 'ip' | 'host' | 'address', entries: string[]): EntrySet {
  const s = new EntrySet(kind);
  for (const e of entries) assert.equal(s.add(e), undefined, e);
  return s;
}

test('ip entries: IPv4 and IPv6 addresses and blocks, an IPv4-mapped client, nothing across families', () => {
  const s = set('ip', ['192.0.2.0/24', '198.51.100.7', '2001:db8:bad::/48', '::1', '10.0.0.0/8']);
  assert.equal(s.matchIp('192.0.2.200')?.text, '192.0.2.0/24');
  assert.equal(s.matchIp('192.0.3.1'), undefined);
  assert.equal(s.matchIp('198.51.100.7')?.text, '198.51.100.7');
  assert.equal(s.matchIp('198.51.100.8'), undefined);
  assert.equal(s.matchIp('::ffff:192.0.2.9')?.text, '192.0.2.0/24', 'an IPv4 client seen through IPv6 mapping');
  assert.equal(s.matchIp('2001:DB8:BAD:1::25')?.text, '2001:db8:bad::/48');
  assert.equal(s.matchIp('2001:db8:bae::1'), undefined);
  assert.equal(s.matchIp('::1')?.text, '::1');
  assert.equal(s.matchIp('::2'), undefined);
  assert.equal(s.matchIp('not an address'), undefined);
  assert.equal(set('ip', ['0.0.0.0/0']).matchIp('203.0.113.1')?.text, '0.0.0.0/0');
  assert.equal(set('ip', ['0.0.0.0/0']).matchIp('2001:db8::1'), undefined);
});

test('bad ip entries say what was expected; host bits set name the network meant', () => {
  for (const bad of ['10.0.0.300', '10.0.0.0/33', '2001:db8::/129', 'example.org', '10.0.0.0/8/8', '10.0.0.0/x', '']) {
    const r = parseEntry('ip', bad);
    assert.ok('error' in r, bad);
  }
  const r = parseEntry('ip', '10.1.2.3/8');
  assert.ok('error' in r && /host bits set; the network is written 10\.0\.0\.0\/8/.test(r.error), JSON.stringify(r));
  const v6 = parseEntry('ip', '2001:db8::1/32');
  assert.ok('error' in v6 && /2001:db8::\/32/.test(v6.error), JSON.stringify(v6));
});

test('host entries: exact names, ".domain" for subdomains only, address literals, case, final dot and IDN', () => {
  const s = set('host', ['mail.Example.ORG', '.partner.example', '[192.0.2.1]', 'bücher.example']);
  assert.equal(s.matchHost('MAIL.example.org.')?.text, 'mail.Example.ORG');
  assert.equal(s.matchHost('other.example.org'), undefined, 'an exact name does not cover its siblings');
  assert.equal(s.matchHost('example.org'), undefined, 'nor its parent');
  assert.equal(s.matchHost('a.b.partner.example')?.text, '.partner.example');
  assert.equal(s.matchHost('partner.example'), undefined, '".domain" is the subdomains, not the domain itself');
  assert.equal(s.matchHost('notpartner.example'), undefined, 'a suffix matches at a label boundary only');
  assert.equal(s.matchHost('[192.0.2.1]')?.text, '[192.0.2.1]');
  assert.equal(s.matchHost('xn--bcher-kva.example')?.text, 'bücher.example', 'IDN written in Unicode matches the A-label');
  assert.equal(s.matchHost('BÜCHER.example')?.text, 'bücher.example');
  for (const bad of ['-bad.example', 'a..b', 'exa mple.org', '.', '..x', 'x'.repeat(64) + '.org', 'user@example.org']) assert.ok('error' in parseEntry('host', bad), bad);
});

test('address entries: one address, a domain, ".domain" subdomains; case-insensitive; garbled ones refused', () => {
  const s = set('address', ['Alice@Example.org', 'partner.example', '.corp.example', 'info@bücher.example']);
  assert.equal(s.matchAddress('alice@EXAMPLE.ORG')?.text, 'Alice@Example.org');
  assert.equal(s.matchAddress('bob@example.org'), undefined, 'one address listed, not its domain');
  assert.equal(s.matchAddress('anyone@Partner.Example')?.text, 'partner.example');
  assert.equal(s.matchAddress('anyone@mail.partner.example'), undefined, 'a domain entry is that domain only');
  assert.equal(s.matchAddress('x@eu.corp.example')?.text, '.corp.example');
  assert.equal(s.matchAddress('x@corp.example'), undefined);
  assert.equal(s.matchAddress('info@xn--bcher-kva.example')?.text, 'info@bücher.example');
  assert.equal(s.matchAddress(''), undefined);
  assert.equal(s.matchAddress('partner.example'), undefined, 'a bare domain is no address');
  for (const bad of ['', '@example.org', 'user@', 'a b@example.org', 'user@exa mple.org', 'user@@example.org', '<user@example.org>', 'user@-x.org']) {
    assert.ok('error' in parseEntry('address', bad), JSON.stringify(bad));
  }
});

test('a repeated entry counts once per occurrence but keeps its first origin', () => {
  const s = new EntrySet('address');
  assert.equal(s.add('a@example.org', 'one.txt:1'), undefined);
  assert.equal(s.add('A@example.org', 'one.txt:9'), undefined);
  assert.equal(s.matchAddress('a@example.org')?.at, 'one.txt:1');
});

test('address literals match in any spelling of the same address (RFC 5321 §4.1.3), the entry named as written', () => {
  const s = set('host', ['[IPv6:2001:db8::1]', '[192.0.2.7]']);
  for (const helo of ['[IPv6:2001:DB8:0::1]', '[ipv6:2001:0db8:0000:0000:0000:0000:0000:0001]', '[2001:db8::1]']) {
    assert.equal(s.matchHost(helo)?.text, '[IPv6:2001:db8::1]', helo);
  }
  assert.equal(s.matchHost('[IPv6:::ffff:192.0.2.7]')?.text, '[192.0.2.7]');
  assert.equal(s.matchHost('[IPv6:64:ff9b::c000:207]')?.text, '[192.0.2.7]', 'NAT64, as the README says');
  assert.equal(set('host', ['[IPv6:::1]']).matchHost('[::1]')?.text, '[IPv6:::1]');
  assert.equal(s.matchHost('[IPv6:2001:db8::2]'), undefined);
  assert.equal(s.matchHost('[192.0.2.8]'), undefined);
  // an entry spelled long matches the short HELO too
  assert.equal(set('host', ['[IPv6:2001:DB8:0:0::1]']).matchHost('[IPv6:2001:db8::1]')?.text, '[IPv6:2001:DB8:0:0::1]');
});
