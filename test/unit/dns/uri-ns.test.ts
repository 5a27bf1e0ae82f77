// Redirector unwrapping (content/redirectors.ts), the name servers of link domains (dns/uri-ns.ts), the uri_ns
// list in the uribl check (a deadline passing during the NS lookups), and the schema errors of the new keys.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createUriblChecks } from '../../../src/checks/uribl.ts';
import { redirectTargets, type Redirector } from '../../../src/content/redirectors.ts';
import { createDnsblEngine } from '../../../src/dns/dnsbl.ts';
import { compileAnswerMap, symbolsOfAnswer } from '../../../src/dns/dnsbl-codes.ts';
import { dnsblSectionSchema, type DnsblSection } from '../../../src/dns/dnsbl-rules.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import type { DnsResult, RecordType, Resolver } from '../../../src/dns/resolver.ts';
import { uriblSettings } from '../../../src/dns/uribl-rules.ts';
import { nameServersOf } from '../../../src/dns/uri-ns.ts';
import { createMessageView } from '../../../src/smtp/message-view.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { rulesProblems } from '../../helpers/config-errors.ts';
import { createZoneResolver, type Zones } from '../../helpers/dns-server.ts';
import { makeContext } from '../checks/dns-context.ts';

const REDIRECTORS: Redirector[] = [
  { host: 'google.com', path: '/url', params: ['q', 'url'] },
  { host: 't.umblr.com', path: '/redirect', params: ['z'] },
  { host: 'any-path.example', params: ['to'] },
];

test('redirector targets: query parameters percent-decoded (twice-encoded too), nested to the depth, subdomains of the host', () => {
  assert.deepEqual(redirectTargets('https://www.google.com/url?sa=t&url=https%3A%2F%2Fevil.example%2Fa%3Fb%3D1', REDIRECTORS, 3), ['https://evil.example/a?b=1']);
  assert.deepEqual(redirectTargets('https://google.com/url?q=https%253A%252F%252Ftwice.example%252F', REDIRECTORS, 3), ['https://twice.example/']);
  const nested = `https://www.google.com/url?q=${encodeURIComponent(`https://t.umblr.com/redirect?z=${encodeURIComponent('http://deep.example/x')}`)}`;
  assert.deepEqual(redirectTargets(nested, REDIRECTORS, 3), ['https://t.umblr.com/redirect?z=http%3A%2F%2Fdeep.example%2Fx', 'http://deep.example/x']);
  assert.deepEqual(redirectTargets(nested, REDIRECTORS, 1), ['https://t.umblr.com/redirect?z=http%3A%2F%2Fdeep.example%2Fx']);
  assert.deepEqual(redirectTargets(nested, REDIRECTORS, 0), []);
  assert.deepEqual(redirectTargets('http://x.any-path.example/whatever?to=https://t.example/', REDIRECTORS, 3), ['https://t.example/']);
});

test('redirector targets: nothing for another path, another host, a lookalike host, or a parameter holding no web link', () => {
  for (const link of [
    'https://www.google.com/search?q=https://evil.example/',
    'https://notgoogle.com/url?q=https://evil.example/',
    'https://google.com.evil.example/url?q=https://evil.example/',
    'https://www.google.com/url?q=evil.example',
    'https://www.google.com/url?q=javascript:alert(1)',
    'https://www.google.com/url?q=https%3A%2F%2F',
    'https://www.google.com/url?q=https%25ZZ',
    'https://www.google.com/url?q=ftp://files.example/',
    `https://www.google.com/url?q=https://${'a'.repeat(9000)}.example/`,
    'not a url at all',
  ]) {
    assert.deepEqual(redirectTargets(link, REDIRECTORS, 3), [], link.slice(0, 80));
  }
  // a redirector to itself stops at the depth
  const loop = 'https://www.google.com/url?q=https://www.google.com/url?q=https://www.google.com/url?q=https://www.google.com/url?q=x';
  assert.ok(redirectTargets(loop, REDIRECTORS, 3).length <= 3);
});

test('redirector targets: google.* under any ICANN public suffix, not a private-section or unknown one', () => {
  const google: Redirector[] = [{ host: 'google.*', path: '/url', params: ['q', 'url'] }];
  for (const link of ['https://www.google.co.uk/url?q=https://evil.example/', 'http://google.de/url?url=https://evil.example/', 'https://google.com.au/url?q=https://evil.example/', 'https://WWW.GOOGLE.COM./url?q=https://evil.example/', 'https://www.google.com.br/url?sa=t&url=https%3A%2F%2Fevil.example%2F']) {
    assert.deepEqual(redirectTargets(link, google, 3), ['https://evil.example/'], link);
  }
  // a blog at blogspot.com (private section), a name under an unknown suffix, a look-alike, google as a subdomain
  for (const link of ['https://google.blogspot.com/url?q=https://evil.example/', 'https://google.evil.example/url?q=https://evil.example/', 'https://google.local/url?q=https://evil.example/', 'https://googles.de/url?q=https://evil.example/', 'https://google.co.uk.evil.example/url?q=https://evil.example/', 'https://www.google.de/search?q=https://evil.example/', 'http://[2001:db8::1]/url?q=https://evil.example/']) {
    assert.deepEqual(redirectTargets(link, google, 3), [], link);
  }
});

test('redirector targets: a base64 target after a prefix (Bing /ck/a), decoded defensively', () => {
  const bing: Redirector[] = [{ host: 'bing.com', path: '/ck/a', params: ['u'], prefix: 'a1', decode: 'base64' }];
  const b64 = (s: string): string => Buffer.from(s).toString('base64url');
  const link = (u: string): string => `https://www.bing.com/ck/a?!&&p=5f1e2d&u=${u}&ntb=1`;
  assert.deepEqual(redirectTargets(link('a1aHR0cHM6Ly9ldmlsLmV4YW1wbGUv'), bing, 3), ['https://evil.example/']);
  // the standard alphabet, padded, its "+" read as a space by the query's decoding; then the URL-safe one
  const plus = Buffer.from('https://evil.example/?a=>>>').toString('base64');
  assert.ok(plus.includes('+'));
  assert.deepEqual(redirectTargets(link(`a1${plus}`), bing, 3), ['https://evil.example/?a=%3E%3E%3E']);
  assert.deepEqual(redirectTargets(link(`a1${encodeURIComponent(plus)}`), bing, 3), ['https://evil.example/?a=%3E%3E%3E']);
  for (const u of [
    b64('https://evil.example/'), // no prefix
    `a2${b64('https://evil.example/')}`, // another prefix
    'a1', // nothing after it
    'a1aHR0cHM6Ly9ldmlsLmV4YW1wbGUv!!', // no base64
    'a1aHR0cHM6Ly9ldmlsLmV4YW1wbGUvA', // an impossible length (4n + 1)
    `a1${Buffer.from([0x68, 0x74, 0xff, 0xfe]).toString('base64url')}`, // no UTF-8
    `a1${b64('javascript:alert(1)//https://evil.example/')}`,
    `a1${b64('ftp://evil.example/')}`,
    `a1${b64('evil.example')}`,
    `a1${b64(`https://evil.example/${'x'.repeat(3100)}`)}`, // over the bound
    `a1${'='.repeat(3000)}x`, // a long run of padding, then more
  ]) {
    assert.deepEqual(redirectTargets(link(u), bing, 3), [], u.slice(0, 60));
  }
});

test('the shipped redirectors unwrap Google country domains, LinkedIn /safety/go and Bing /ck/a', () => {
  const shipped = uriblSettings(loadRuleset([new URL('../../../rules', import.meta.url).pathname]).section('uribl')).redirectors ?? [];
  for (const link of ['https://www.google.co.uk/url?q=https://evil.example/', 'https://google.de/url?url=https://evil.example/', 'https://www.google.com.au/url?q=https://evil.example/', 'https://www.linkedin.com/safety/go?url=https%3A%2F%2Fevil.example%2F&trk=flagship', 'https://www.bing.com/ck/a?!&&p=abc&u=a1aHR0cHM6Ly9ldmlsLmV4YW1wbGUv&ntb=1']) {
    assert.deepEqual(redirectTargets(link, shipped, 3), ['https://evil.example/'], link);
  }
});

/** A resolver over a zone map that logs each question. */
function counting(zones: Zones): { resolver: Resolver; log: string[] } {
  const inner = createZoneResolver(zones);
  const log: string[] = [];
  return { log, resolver: { lookup: <T extends RecordType>(name: string, type: T): Promise<DnsResult<T>> => (log.push(`${type} ${name}`), inner.lookup(name, type)) } };
}

test('name servers of link domains: sorted, bounded, private addresses and private names dropped, excluded domains kept unasked', async () => {
  const zones: Zones = {
    'a.example': [{ NS: 'ns2.host-b.example' }, { NS: 'ns1.host-b.example' }, { NS: 'ns.big-dns.example' }, { NS: 'ns.corp.local' }],
    'ns1.host-b.example': [{ A: '10.1.2.3' }, { A: '203.0.113.5' }],
    'ns2.host-b.example': [{ A: '127.0.0.1' }],
    'ns.big-dns.example': [{ A: '198.51.100.9' }],
    'b.example': 'SERVFAIL',
  };
  const { resolver, log } = counting(zones);
  const r = await nameServersOf(resolver, ['a.example', 'b.example', 'c.example'], { maxDomains: 2, maxHosts: 5, maxLookups: 100 }, { addresses: true, ipv6: false, exclude: new Set(['big-dns.example']) });
  assert.deepEqual([...r.domains], [['host-b.example', 'a.example']]);
  // 10.1.2.3 (private), 127.0.0.1 (loopback): never asked; the address of the excluded name server's domain is
  assert.deepEqual([...r.addresses], [
    ['198.51.100.9', 'a.example'],
    ['203.0.113.5', 'a.example'],
  ]);
  assert.ok(!log.includes('NS c.example'), 'max_ns_domains: the third domain is not asked');
  assert.ok(!log.some((q) => q.includes('corp.local')), 'a name server under a private name is not resolved');

  const tight = counting(zones);
  const t = await nameServersOf(tight.resolver, ['a.example'], { maxDomains: 5, maxHosts: 1, maxLookups: 1 }, { addresses: true, ipv6: true, exclude: new Set() });
  assert.deepEqual(tight.log, ['NS a.example'], 'one lookup in all');
  assert.equal(t.lookups, 1);
  assert.deepEqual([...t.domains.keys()], ['big-dns.example'], 'max_ns_hosts 1: the first by name');
});

test('a uri_ns list whose name server lookups outlast the deadline gives URIBL_TEMPERROR naming it', async () => {
  const section = dnsblSectionSchema.parse({ n: { zone: 'n.test', kind: 'uri_ns', health_check: false, codes: { '127.0.0.2': 'URIBL_N' } } });
  const never: Resolver = { lookup: () => new Promise(() => undefined) };
  const engine = createDnsblEngine({ resolver: never, lists: section, log: silentLogger, clock: new ManualClock(1) });
  const [check] = createUriblChecks({ engine, resolver: never, section, settings: { maxUris: 50, exclude: new Set() }, limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 } });
  assert.deepEqual([...(check?.symbols ?? [])].sort(), ['URIBL_N', 'URIBL_TEMPERROR']);
  const ac = new AbortController();
  const ctx = { ...makeContext('data', {}, {}, { signal: ac.signal }), message: createMessageView(Buffer.from('Subject: x\r\n\r\nhttp://slow-ns.example/\r\n')) };
  const running = check?.run(ctx);
  setImmediate(() => ac.abort());
  assert.deepEqual(await running, [{ symbol: 'URIBL_TEMPERROR', options: ['n'] }]);
});

test('schema errors of the new keys name the file, the line and the key', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-uri-ns-schema-'));
  try {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'dnsbl:',
        '  nsip:',
        '    zone: a.test',
        '    kind: uri',
        '    ns_ip: true',
        '    codes: { 127.0.0.2: URIBL_X }',
        '  nstest:',
        '    zone: b.test',
        '    kind: uri_ns',
        '    ns_ip: true',
        '    test_point: test.b.test',
        '    codes: { 127.0.0.2: URIBL_Y }',
        'uribl:',
        '  redirect_depth: 9',
        '  max_ns_domains: 0',
        '  max_ns_lookups: 1000',
        '  redirectors:',
        '    - { host: "not a host", params: [q] }',
        '    - { host: r.example, path: url, params: [] }',
        '    - { host: r.example, params: ["a b"], extra: 1 }',
        '    - { host: "*.google", params: [q] }',
        '    - { host: google.*, params: [u], decode: hex, prefix: "" }',
        '',
      ].join('\n'),
    );
    const text = rulesProblems([dir]);
    const at = (line: number, rest: string): RegExp => new RegExp(`${file.replace(/[.\\/]/g, '\\$&')}:${line}: ${rest}`);
    assert.match(text, at(5, 'dnsbl\\.nsip\\.ns_ip: ns_ip applies to uri_ns lists only, found kind uri'));
    assert.match(text, at(11, 'dnsbl\\.nstest\\.test_point: test_point applies to domain lists only, found kind uri_ns'));
    assert.match(text, at(14, 'uribl\\.redirect_depth: '));
    assert.match(text, at(15, 'uribl\\.max_ns_domains: '));
    assert.match(text, at(16, 'uribl\\.max_ns_lookups: '));
    assert.match(text, /uribl\.redirectors\[0\]\.host: expected a domain name/);
    assert.match(text, /uribl\.redirectors\[1\]\.path: expected a path prefix starting with "\/"/);
    assert.match(text, /uribl\.redirectors\[1\]\.params: /);
    assert.match(text, /uribl\.redirectors\[2\]\.params\[0\]: expected a query parameter name/);
    assert.match(text, /uribl\.redirectors\[2\]\.extra: unknown key|uribl\.redirectors\[2\]: unknown key/);
    assert.match(text, /uribl\.redirectors\[3\]\.host: expected a domain name, or name\.\* for that name under any public suffix/);
    assert.match(text, /uribl\.redirectors\[4\]\.decode: /);
    assert.match(text, /uribl\.redirectors\[4\]\.prefix: expected the literal start of the parameter value/);
    assert.doesNotMatch(text, /uribl\.redirectors\[4\]\.host/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a link domain whose name servers never answer does not hold back the uri_ns hits of the others', async () => {
  const section = dnsblSectionSchema.parse({
    n: { zone: 'n.test', kind: 'uri_ns', health_check: false, codes: { '127.0.0.2': 'URIBL_N' } },
    nip: { zone: 'nip.test', kind: 'uri_ns', ns_ip: true, health_check: false, codes: { '127.0.0.2': 'URIBL_NIP' } },
  });
  const zones = createZoneResolver({
    'fresh.example': [{ NS: 'ns1.bad-dns.example' }],
    'ns1.bad-dns.example': [{ A: '203.0.113.9' }],
    'bad-dns.example.n.test': [{ A: '127.0.0.2' }],
    '9.113.0.203.nip.test': [{ A: '127.0.0.2' }],
  });
  // the spammer's other domain: its name servers are dead, the NS lookup hangs past the deadline
  const resolver: Resolver = { lookup: (name, type) => (name === 'dead-ns.example' ? new Promise(() => undefined) : zones.lookup(name, type)) };
  const engine = createDnsblEngine({ resolver, lists: section, log: silentLogger, clock: new ManualClock(1) });
  const [check] = createUriblChecks({ engine, resolver, section, settings: { maxUris: 50, exclude: new Set() }, limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 } });
  const ac = new AbortController();
  const ctx = { ...makeContext('data', {}, {}, { signal: ac.signal }), message: createMessageView(Buffer.from('Subject: x\r\n\r\nhttp://dead-ns.example/ http://fresh.example/\r\n')) };
  const running = check?.run(ctx);
  setTimeout(() => ac.abort(), 50);
  const hits = await running;
  assert.deepEqual(hits?.find((h) => h.symbol === 'URIBL_N'), { symbol: 'URIBL_N', options: ['fresh.example/ns=bad-dns.example'] });
  assert.deepEqual(hits?.find((h) => h.symbol === 'URIBL_NIP'), { symbol: 'URIBL_NIP', options: ['fresh.example/ns=203.0.113.9'] });
  // the lookups still outstanding at the deadline are a temperror of both lists
  assert.deepEqual(hits?.find((h) => h.symbol === 'URIBL_TEMPERROR'), { symbol: 'URIBL_TEMPERROR', options: ['n', 'nip'] });
});

test('redirector targets: read as a browser reads the Location it is sent to (extra slashes, control characters, a stray escape)', () => {
  for (const link of [
    'https://www.google.com/url?q=https:///evil.example/',
    'https://www.google.com/url?q=https:%5C%5C%5Cevil.example/',
    'https://www.google.com/url?q=%01https://evil.example/%20%00',
    'https://www.google.com/url?q=ht%09tps://evil.ex%0Aample/',
    // twice encoded, with a malformed escape after the host: the host still decodes
    'https://www.google.com/url?q=https%253A%252F%252Fevil.example%252F%25ZZ',
  ]) {
    assert.deepEqual(redirectTargets(link, REDIRECTORS, 3).map((t) => new URL(t).hostname), ['evil.example'], link);
  }
  // no host: still nothing
  assert.deepEqual(redirectTargets('https://www.google.com/url?q=https:///', REDIRECTORS, 3), []);
  assert.deepEqual(redirectTargets('https://www.google.com/url?q=https:evil.example', REDIRECTORS, 3), []);
});

test('the shipped uri_ns lists map every documented answer of their zones: no listing logged as a list error', () => {
  const shipped = loadRuleset([new URL('../../../rules', import.meta.url).pathname]);
  const lists = shipped.section<DnsblSection>('dnsbl') ?? {};
  const answers = (name: string, codes: string[]): void => {
    const l = lists[name];
    assert.ok(l, name);
    const map = compileAnswerMap(l.codes, l.bits);
    for (const c of codes) assert.ok(symbolsOfAnswer(map, c).ok, `${name}: ${c}`);
  };
  // Spamhaus DBL: spam, phish, malware, botnet C&C, and the abused-legitimate codes .102-.106
  answers('dbl_ns', ['127.0.1.2', '127.0.1.4', '127.0.1.5', '127.0.1.6', '127.0.1.102', '127.0.1.103', '127.0.1.104', '127.0.1.105', '127.0.1.106']);
  // Spamhaus SBL zone: SBL, CSS, DROP
  answers('sbl_ns', ['127.0.0.2', '127.0.0.3', '127.0.0.9']);
});

test('redirector links: a path spelled with percent-escapes of plain characters is the same path (RFC 3986 §6.2.2.2)', () => {
  for (const link of ['https://www.google.com/%75rl?q=https://evil.example/', 'https://t.umblr.com/re%64irect?z=https://evil.example/', 'https://www.google.com/u%52L?q=https://evil.example/']) {
    assert.deepEqual(redirectTargets(link, REDIRECTORS, 3), ['https://evil.example/'], link);
  }
  // an escaped "/" is no path separator: not the same path
  assert.deepEqual(redirectTargets('https://www.google.com/%2Furl?q=https://evil.example/', REDIRECTORS, 3), []);
});

test('a name server answering with thousands of addresses: a few of them kept, not every one held and checked', async () => {
  const many = Array.from({ length: 3000 }, (_, i) => ({ A: `198.51.${100 + Math.floor(i / 250)}.${i % 250}` }));
  const { resolver } = counting({ 'a.example': [{ NS: 'ns1.wide.example' }, { NS: 'ns2.wide.example' }], 'ns1.wide.example': many, 'ns2.wide.example': many.slice(0, 1000) });
  const r = await nameServersOf(resolver, ['a.example'], { maxDomains: 10, maxHosts: 4, maxLookups: 40 }, { addresses: true, ipv6: true, exclude: new Set() });
  assert.ok(r.addresses.size <= 2 * 4, `${r.addresses.size} addresses kept`);
  assert.ok(r.addresses.size >= 2);
});

test('past the check deadline no further name server address is looked up (the answer would not be read)', async () => {
  const section = dnsblSectionSchema.parse({ nip: { zone: 'nip.test', kind: 'uri_ns', ns_ip: true, health_check: false, codes: { '127.0.0.2': 'URIBL_NIP' } } });
  const { resolver: zones, log } = counting({ 'late.example': [{ NS: 'ns1.late-dns.example' }], 'ns1.late-dns.example': [{ A: '203.0.113.7' }] });
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  // the NS answer arrives only after the deadline
  const resolver: Resolver = { lookup: async (name, type) => (type === 'NS' ? (await gate, zones.lookup(name, type)) : zones.lookup(name, type)) };
  const engine = createDnsblEngine({ resolver, lists: section, log: silentLogger, clock: new ManualClock(1) });
  const [check] = createUriblChecks({ engine, resolver, section, settings: { maxUris: 50, exclude: new Set() }, limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 } });
  const ac = new AbortController();
  const ctx = { ...makeContext('data', {}, {}, { signal: ac.signal }), message: createMessageView(Buffer.from('Subject: x\r\n\r\nhttp://late.example/\r\n')) };
  const running = check?.run(ctx);
  setImmediate(() => ac.abort());
  assert.deepEqual(await running, [{ symbol: 'URIBL_TEMPERROR', options: ['nip'] }]);
  release();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(log, ['NS late.example'], 'no A lookup of ns1.late-dns.example, no list question, after the deadline');
});

test('a name server that is also a link of the message: dropped only when the same zone scored it as the link', async () => {
  // evil.example is its own name server's domain (ns1.evil.example), and listed 127.0.0.4 in u.test
  const zones = createZoneResolver({
    'evil.example': [{ NS: 'ns1.evil.example' }],
    'evil.example.u.test': [{ A: '127.0.0.4' }],
    'test.u.test': [{ A: '127.0.0.2' }],
  });
  const run = async (lists: Record<string, unknown>): Promise<string[]> => {
    const section = dnsblSectionSchema.parse(lists);
    const engine = createDnsblEngine({ resolver: zones, lists: section, log: silentLogger, clock: new ManualClock(1) });
    const [check] = createUriblChecks({ engine, resolver: zones, section, settings: { maxUris: 50, exclude: new Set() }, limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 } });
    const ctx = { ...makeContext('data', {}, {}, {}), message: createMessageView(Buffer.from('Subject: x\r\n\r\nhttp://www.evil.example/\r\n')) };
    return ((await check?.run(ctx)) ?? []).map((h) => `${h.symbol}[${(h.options ?? []).join(',')}]`).sort();
  };
  const ns = { zone: 'u.test', kind: 'uri_ns', health_check: false, codes: { '127.0.0.2': 'NS_SPAM', '127.0.0.4': 'NS_PHISH' } };
  // the link list of the zone scores it: once, by the link
  assert.deepEqual(await run({ u: { zone: 'u.test', kind: 'uri', health_check: false, codes: { '127.0.0.4': 'URI_PHISH' } }, n: ns }), ['URI_PHISH[evil.example]']);
  // the link list maps no such answer (a list error to it): the name server listing is not lost
  assert.deepEqual(await run({ u: { zone: 'u.test', kind: 'uri', health_check: false, codes: { '127.0.0.2': 'URI_SPAM' } }, n: ns }), ['NS_PHISH[evil.example/ns=evil.example]']);
  // the link list failed its health check (its test point unlisted) and is skipped: the name server listing still scores
  assert.deepEqual(await run({ u: { zone: 'u.test', kind: 'uri', test_point: 'unlisted.u.test', codes: { '127.0.0.4': 'URI_PHISH' } }, n: ns }), ['NS_PHISH[evil.example/ns=evil.example]']);
});
