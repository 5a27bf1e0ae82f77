// URI block lists, unit by unit: registered-domain reduction, link hosts and the subjects of a message, return
// codes by address and by bitmask, the `dnsbl`/`uribl` rules schema errors (file, line and key named), and the
// uribl check over an in-process zone resolver (emails flag, exclusions, IP ranges, deadline).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { createUriblChecks, headerDomains } from '../../../src/checks/uribl.ts';
import { linkHost, uriSubjects } from '../../../src/content/uri-subjects.ts';
import { compileAnswerMap, isBitKey, symbolsOfAnswer, symbolsOfAnswers } from '../../../src/dns/dnsbl-codes.ts';
import { createDnsblEngine, reversedName } from '../../../src/dns/dnsbl.ts';
import { dnsblSectionSchema } from '../../../src/dns/dnsbl-rules.ts';
import { excludedBy, registeredDomain, underAny } from '../../../src/dns/registered-domain.ts';
import { mergeUriblSections, uriblSettings } from '../../../src/dns/uribl-rules.ts';
import { parseMail } from '../../../src/mime/parse.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { publicAddress } from '../../../src/util/ip-ranges.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { createMessageView } from '../../../src/smtp/message-view.ts';
import { rulesProblems } from '../../helpers/config-errors.ts';
import { createZoneResolver, type Zones } from '../../helpers/dns-server.ts';
import { makeContext } from '../checks/dns-context.ts';

test('registered domains by the public suffix list (private section included); invalid names have none', () => {
  assert.equal(registeredDomain('www.bad-site.example.co.uk'), 'example.co.uk');
  assert.equal(registeredDomain('WWW.Bad-Site.co.uk.'), 'bad-site.co.uk');
  assert.equal(registeredDomain('a.b.c.example.com'), 'example.com');
  assert.equal(registeredDomain('evil.github.io'), 'evil.github.io');
  assert.equal(registeredDomain('x.evil.blogspot.com'), 'evil.blogspot.com');
  assert.equal(registeredDomain('bücher.example'), 'xn--bcher-kva.example');
  for (const bad of ['localhost', 'co.uk', 'com', '', 'a..b.example', '-x.example', 'x_y.example', 'x y.example', `${'a'.repeat(64)}.example`]) {
    assert.equal(registeredDomain(bad), undefined, bad);
  }
  assert.ok(underAny('mail.google.com', new Set(['google.com'])));
  assert.ok(underAny('google.com', new Set(['google.com'])));
  assert.ok(!underAny('notgoogle.com', new Set(['google.com'])));
  // name.*: the name under an ICANN public suffix, and all under it; not under the private section, nor a longer name
  const anySuffix = new Set(['google.*']);
  for (const d of ['google.com', 'google.de', 'google.co.uk', 'mail.google.com.au']) assert.ok(excludedBy(d, anySuffix), d);
  for (const d of ['google.blogspot.com', 'notgoogle.de', 'google.de.evil.example', 'google']) assert.ok(!excludedBy(d, anySuffix), d);
  assert.ok(excludedBy('mail.google.com', new Set(['google.com'])));
});

test('a host whose subdomain labels are no strict DNS names still has its registered domain (browsers follow such links)', () => {
  // wildcard DNS answers promo_1.bad.example and -x.bad.example; browsers resolve them: the registered domain is asked
  assert.equal(registeredDomain('promo_1.bad.example'), 'bad.example');
  assert.equal(registeredDomain('_x.www.bad.example'), 'bad.example');
  assert.equal(registeredDomain('-x.bad.example'), 'bad.example');
  assert.equal(registeredDomain('x-.sub.bad.co.uk'), 'bad.co.uk');
  // the name asked stays a strict DNS name; no label over 63 octets, no empty label
  for (const bad of ['bad_site.example', 'x.bad_site.example', '-bad.example', `${'a'.repeat(64)}.bad.example`, 'a..bad.example', 'a*b.bad.example']) {
    assert.equal(registeredDomain(bad), undefined, bad);
  }
});

test('names of private networks have no registered domain: never told to a public list', () => {
  for (const host of ['wiki.corp.local', 'fs.corp.internal', 'nas.home.arpa', 'printer.lan', 'x.y.localhost', 'a.b.invalid', 'router.home', 'erp.intranet']) {
    assert.equal(registeredDomain(host), undefined, host);
  }
  assert.equal(registeredDomain('shop.local-deals.com'), 'local-deals.com');
  assert.equal(registeredDomain('arpa-news.example'), 'arpa-news.example');
});

test('link hosts are read as a browser reads them', () => {
  assert.equal(linkHost('http://www.Example.com/x'), 'www.example.com');
  assert.equal(linkHost('www.example.com/path'), 'www.example.com');
  assert.equal(linkHost('https://user:pw@evil.example\\.brand.com/'), 'evil.example');
  assert.equal(linkHost('http://3232235777/'), '192.168.1.1');
  assert.equal(linkHost('http://0x7f.1/'), '127.0.0.1');
  assert.equal(linkHost('http://[2001:DB8::1]:8080/'), '2001:db8::1');
  assert.equal(linkHost('http://bad.example,'), 'bad.example');
  assert.equal(linkHost('http://bad.example.'), 'bad.example');
  assert.equal(linkHost('http://%62ad.example/'), 'bad.example');
  assert.equal(linkHost('http://exa mple.com/'), '');
});

test('a link with a long run of punctuation before its end is read in a scan: an href of 200 000 dots and one letter (a pattern anchored at the end tried the run at each of its dots: minutes)', () => {
  // trailing sentence punctuation is still dropped, from the text and from the host
  assert.equal(linkHost('http://bad.example/x).,;:!?\'"]}>'), 'bad.example');
  assert.equal(linkHost('www.bad.example...'), 'www.bad.example');
  // a synchronous call is not stopped by a test timeout; a vm timeout stops a backtracking pattern
  const run = (): string[] => [linkHost(`http://a${'.'.repeat(200_000)}x/`), linkHost(`www.a${')'.repeat(200_000)}x`), linkHost(`http://bad.example/${'.'.repeat(200_000)}x`)];
  assert.deepEqual(runInNewContext('run()', { run }, { timeout: 10_000 }), [`a${'.'.repeat(200_000)}x`, `www.a${')'.repeat(200_000)}x`, 'bad.example']);
});

test('the subjects of a message: link domains in order without repeats, IP literals, e-mail domains apart', () => {
  const raw = Buffer.from(
    'From: a@sender.example\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n' +
      '<a href="http://www.one.example/a">http://www.shown.example/</a> <a href="http://two.example/">x</a> ' +
      '<a href="http://one.example/again">y</a> <a href="http://198.51.100.7/">ip</a> <a href="mailto:desk@mailto.example">mail</a> ' +
      'write to sales@bare.example or sales@one.example',
  );
  const s = uriSubjects(parseMail(raw));
  assert.deepEqual(s.domains, ['one.example', 'two.example', 'shown.example']);
  assert.deepEqual(s.ips, ['198.51.100.7']);
  assert.deepEqual(s.emailDomains.sort(), ['bare.example', 'mailto.example']);
});

test('hrefs as a browser follows them: protocol-relative, broken by tabs and newlines, written with character references', () => {
  const raw = Buffer.from(
    'From: a@sender.example\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n' +
      '<a href="//proto-rel.example/x">a</a> <a href="ht\ntp://newline.example/">b</a> <a href="ht&#x09;tps://tab.example/">c</a> ' +
      '<a href="http&colon;&sol;&sol;named&period;example/">d</a> <img src="//img-rel.example/p.gif">',
  );
  assert.deepEqual(uriSubjects(parseMail(raw)).domains.sort(), ['img-rel.example', 'named.example', 'newline.example', 'proto-rel.example', 'tab.example']);
});

test('e-mail domains of a hostile body: each spelling reduced once, so "a@" repeated costs a scan, not a million reductions', () => {
  const limits = { maxBytes: 4 * 1024 * 1024, maxParts: 100, maxDepth: 10 };
  const mail = parseMail(Buffer.from(`From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n${'a@'.repeat(1_500_000)} sales@shop.example\r\n`), limits);
  const started = performance.now();
  const s = uriSubjects(mail, { emails: true });
  const ms = performance.now() - started;
  assert.deepEqual(s.emailDomains, ['shop.example']);
  // about 1.8 s when every match was reduced by the public suffix list; about 0.1 s now
  assert.ok(ms < 600, `${ms.toFixed(0)} ms`);
});

test('a link after hundreds of links to one host is still found: the link bounds count new hosts, not repeats', () => {
  const subjects = (type: string, body: string): string[] => uriSubjects(parseMail(Buffer.from(`From: a@b.example\r\nSubject: x\r\nContent-Type: ${type}\r\n\r\n${body}`)), { emails: false }).domains;
  const spacers = '<img src="http://cdn.example/spacer.gif">'.repeat(300);
  assert.deepEqual(subjects('text/html', `${spacers}<a href="http://hidden-spam.example/">buy</a>`), ['cdn.example', 'hidden-spam.example']);
  const tracked = Array.from({ length: 600 }, (_, i) => `<a href="http://news.example/t?id=${i}">${i}</a>`).join('');
  assert.deepEqual(subjects('text/html', `${tracked}<a href="http://hidden-spam.example/">buy</a>`), ['news.example', 'hidden-spam.example']);
  const text = Array.from({ length: 600 }, (_, i) => `http://news.example/t?id=${i}`).join(' ');
  assert.deepEqual(subjects('text/plain', `${text} http://hidden-spam.example/`), ['news.example', 'hidden-spam.example']);
});

test('an HTML attachment gives its links and the URLs of its scripts; its text stays out of the text checks', () => {
  const page = '<form action="https://post.form-kit.example/p"></form><script>window.location = "https://go.js-kit.example/x";</script>FREE MONEY';
  const raw = Buffer.from(
    'From: a@b.example\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n' +
      `--b\r\nContent-Type: application/octet-stream; name="invoice.htm"\r\nContent-Disposition: attachment; filename="invoice.htm"\r\n\r\n${page}\r\n--b--\r\n`,
  );
  const mail = parseMail(raw);
  assert.deepEqual(uriSubjects(mail).domains, ['form-kit.example', 'js-kit.example']);
  assert.ok(!mail.text.includes('FREE MONEY') && mail.links.length === 0, 'no text, no body links');
});

test('return codes: exact and CIDR codes, bitmask bits, and every other answer a list error', () => {
  const codes = compileAnswerMap({ '127.0.1.2': 'DBL_SPAM', '127.0.1.104/30': 'DBL_ABUSED' }, {});
  assert.deepEqual(symbolsOfAnswer(codes, '127.0.1.2'), { ok: true, symbols: ['DBL_SPAM'] });
  assert.deepEqual(symbolsOfAnswer(codes, '127.0.1.106'), { ok: true, symbols: ['DBL_ABUSED'] });
  assert.equal(symbolsOfAnswer(codes, '127.0.1.255').ok, false);
  const surbl = compileAnswerMap({}, { 8: 'SURBL_PH', 16: 'SURBL_MW', 64: 'SURBL_ABUSE', 128: 'SURBL_CR' });
  assert.deepEqual(symbolsOfAnswer(surbl, '127.0.0.72'), { ok: true, symbols: ['SURBL_PH', 'SURBL_ABUSE'] });
  // test.surbl.org answers every bit: the ones not named are ignored
  assert.deepEqual(symbolsOfAnswer(surbl, '127.0.0.254'), { ok: true, symbols: ['SURBL_PH', 'SURBL_MW', 'SURBL_ABUSE', 'SURBL_CR'] });
  const uribl = compileAnswerMap({}, { 2: 'URIBL_BLACK', 4: 'URIBL_GREY', 8: 'URIBL_RED' });
  assert.deepEqual(symbolsOfAnswer(uribl, '127.0.0.14'), { ok: true, symbols: ['URIBL_BLACK', 'URIBL_GREY', 'URIBL_RED'] });
  // URIBL's "query refused": no documented bit
  assert.deepEqual(symbolsOfAnswer(uribl, '127.0.0.1'), { ok: false, reason: 'undocumented answer 127.0.0.1' });
  assert.equal(symbolsOfAnswer(uribl, '127.255.255.254').ok, false, 'bits read 127.0.0.X only');
  assert.equal(symbolsOfAnswer(uribl, '127.0.1.2').ok, false);
  // codes and bits together; one undocumented address among several spoils the answer
  const both = compileAnswerMap({ '127.0.0.2': 'EXACT' }, { 4: 'BIT4' });
  assert.deepEqual(symbolsOfAnswers(both, ['127.0.0.2', '127.0.0.4', '127.0.0.6']), { ok: true, symbols: ['EXACT', 'BIT4'] });
  assert.equal(symbolsOfAnswers(both, ['127.0.0.4', '127.0.0.1']).ok, false);
  assert.deepEqual(['1', '2', '128', '3', '0', '256', '08', 'x'].map(isBitKey), [true, true, true, false, false, false, false, false]);
});

test('non-public addresses are never looked up', () => {
  for (const ip of ['10.1.2.3', '172.16.0.1', '192.168.1.1', '127.0.0.1', '169.254.1.1', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', 'fe80::1', 'fd00::1', '::ffff:10.0.0.1']) {
    assert.equal(publicAddress(ip), undefined, ip);
  }
  assert.equal(publicAddress('198.51.100.7'), '198.51.100.7');
  assert.equal(publicAddress('::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(publicAddress('2001:db8::1'), '2001:db8::1');
  // IPv6 outside global unicast 2000::/3 is reserved (as 240.0.0.0/4); discard-only and benchmarking as 198.18.0.0/15
  for (const ip of ['4000::1', 'a000::1', '100::1', '2001:2::1', '2001:2:0:ffff::1', '::ffff:1:a00:1']) assert.equal(publicAddress(ip), undefined, ip);
  assert.equal(publicAddress('2a00:1450:4001::1'), '2a00:1450:4001::1');
  assert.equal(publicAddress('2001:3::1'), '2001:3::1');
});

test('an IPv6 address that carries an IPv4 one is judged by that IPv4 address', () => {
  // 6to4 (RFC 3056), IPv4-compatible (RFC 4291 §2.5.5.1), IPv4-mapped in any spelling, NAT64 (RFC 6052, RFC 8215)
  for (const ip of ['2002:0a00:0001::', '2002:a00:1:5::9', '2002:c0a8:101::1', '2002:7f00:1::', '::10.0.0.1', '::a00:1', '::ffff:10.0.0.1', '::ffff:a00:1', '64:ff9b::10.0.0.1', '64:ff9b::a00:1', '64:ff9b:1::c633:6407', '::ffff:0:10.0.0.1', '::ffff:0:a00:1', '::ffff:0:7f00:1', '0:0:0:0:ffff:0:c0a8:101']) {
    assert.equal(publicAddress(ip), undefined, ip);
  }
  assert.equal(publicAddress('::198.51.100.7'), '198.51.100.7');
  assert.equal(publicAddress('64:ff9b::c633:6407'), '198.51.100.7');
  // IPv4-translated (SIIT, RFC 2765 §2.1): ::ffff:0:a.b.c.d, one group off the mapped form
  assert.equal(publicAddress('::ffff:0:198.51.100.7'), '198.51.100.7');
  // a 6to4 host behind a public router stays itself
  assert.equal(publicAddress('2002:c633:6407::1'), '2002:c633:6407::1');
});

test('a Teredo address (2001::/32, RFC 4380) is public only when its server and its client\'s mapped IPv4 address are', () => {
  // server 10.0.0.1 or 127.0.0.1; client mapped 192.168.1.1 or 100.64.0.1 (stored inverted: 3f57:fefe, 9bbf:fffe)
  for (const ip of ['2001:0:a00:1:8000:ffff:34ff:8efa', '2001:0:7f00:1::34ff:8efa', '2001:0:c633:6407:8000:ffff:3f57:fefe', '2001::c633:6407:0:0:9bbf:fffe', '2001::']) {
    assert.equal(publicAddress(ip), undefined, ip);
  }
  // server 198.51.100.7, client 203.0.113.5 (34ff:8efa); RFC 4380's own example (65.54.227.120, 192.0.2.45): the
  // host behind the tunnel stays itself
  assert.equal(publicAddress('2001:0:c633:6407:8000:ffff:34ff:8efa'), '2001:0:c633:6407:8000:ffff:34ff:8efa');
  assert.equal(publicAddress('2001:0:4136:e378:8000:63bf:3fff:fdd2'), '2001:0:4136:e378:8000:63bf:3fff:fdd2');
  // next to it, 2001:1::/32 and 2001:3::/32 are no tunnel
  assert.equal(publicAddress('2001:3::1'), '2001:3::1');
});

test('rules schema errors name the file, the line and the key', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-uribl-schema-'));
  try {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'dnsbl:',
        '  nocodes:',
        '    zone: a.test',
        '    kind: uri',
        '  badbit:',
        '    zone: b.test',
        '    kind: uri',
        '    bits:',
        '      3: URIBL_X',
        '  mailip:',
        '    zone: c.test',
        '    kind: from_header',
        '    emails: true',
        '    codes: { 127.0.0.2: URIBL_Y }',
        '  iptest:',
        '    zone: d.test',
        '    kind: uri_ip',
        '    test_point: test.d.test',
        '    codes: { 127.0.0.2: URIBL_Z }',
        '  badkind:',
        '    zone: e.test',
        '    kind: url',
        '    codes: { 127.0.0.2: URIBL_W }',
        'uribl:',
        '  max_uris: 0',
        '  exclude: [good.example, "not a domain", www.partner.example, blogspot.com, partner.*, "*.partner.example", partner.*.uk, "*"]',
        '  skip: []',
        '',
      ].join('\n'),
    );
    const text = rulesProblems([dir]);
    const at = (line: number, rest: string): RegExp => new RegExp(`${file.replace(/[.\\/]/g, '\\$&')}:${line}: ${rest}`);
    assert.match(text, at(3, 'dnsbl\\.nocodes\\.codes: expected return codes: codes, bits, or both'));
    assert.match(text, at(9, 'dnsbl\\.badbit\\.bits\\.3: expected one bit of the last octet'));
    assert.match(text, at(13, 'dnsbl\\.mailip\\.emails: emails applies to uri lists only, found kind from_header'));
    assert.match(text, at(18, 'dnsbl\\.iptest\\.test_point: test_point applies to domain lists only, found kind uri_ip'));
    assert.match(text, at(22, 'dnsbl\\.badkind\\.kind: .*"uri".*"uri_ip".*"from_header"'));
    assert.match(text, at(25, 'uribl\\.max_uris: '));
    assert.match(text, at(26, 'uribl\\.exclude\\[1\\]: expected a domain name'));
    // links are asked by registered domain: an entry below one would never match (a public suffix covers all under it)
    assert.match(text, at(26, 'uribl\\.exclude\\[2\\]: expected a registered domain \\(partner\\.example\\), found www\\.partner\\.example'));
    assert.doesNotMatch(text, /exclude\[3\]/);
    // name.* (that name under any public suffix) is taken; any other wildcard is not
    assert.doesNotMatch(text, /exclude\[4\]/);
    for (const [i, entry] of [[5, '\\*\\.partner\\.example'], [6, 'partner\\.\\*\\.uk'], [7, '\\*']]) {
      assert.match(text, at(26, `uribl\\.exclude\\[${i}\\]: expected a domain name, or name\\.\\* for that name under any public suffix, found "${entry}"`));
    }
    assert.match(text, at(27, 'uribl\\.skip: unknown key'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('uribl sections merge: a later max_uris replaces, exclude entries add up; the shipped one bounds and excludes', () => {
  assert.deepEqual(mergeUriblSections({ max_uris: 50, exclude: ['a.example'] }, { exclude: ['b.example'] }), { max_uris: 50, exclude: ['a.example', 'b.example'] });
  assert.deepEqual(mergeUriblSections({ max_uris: 50 }, { max_uris: 5 }), { max_uris: 5 });
  assert.deepEqual(uriblSettings(undefined), { maxUris: 50, exclude: new Set(), redirectors: [], redirectDepth: 3, maxNsDomains: 10, maxNsHosts: 4, maxNsLookups: 40 });
  const shipped = loadRuleset([new URL('../../../rules', import.meta.url).pathname]);
  const settings = uriblSettings(shipped.section('uribl'));
  assert.equal(settings.maxUris, 50);
  assert.ok(['google.com', 'amazon.com', 'yahoo.com', 'microsoft.com'].every((e) => settings.exclude.has(e)));
  // a name.* entry would also trust whoever registers that name under an open TLD: none is shipped
  assert.deepEqual([...settings.exclude].filter((e) => e.endsWith('.*')), []);
  const lists = shipped.section<Record<string, { kind: string; enabled: boolean; zone: string }>>('dnsbl') ?? {};
  const uriLists = Object.values(lists).filter((l) => l.kind === 'uri');
  assert.deepEqual(uriLists.map((l) => l.zone).sort(), ['dbl.spamhaus.org', 'multi.surbl.org', 'multi.uribl.com']);
  assert.ok(uriLists.every((l) => !l.enabled), 'no public list is asked unless told to');
  const nsLists = Object.values(lists).filter((l) => l.kind === 'uri_ns');
  assert.deepEqual(nsLists.map((l) => l.zone).sort(), ['dbl.spamhaus.org', 'sbl.spamhaus.org']);
  assert.ok(nsLists.every((l) => !l.enabled), 'no public list is asked unless told to');
  assert.ok(settings.redirectors?.some((r) => r.host === 'google.*' && r.path === '/url' && r.params.includes('q')));
});

const ZONES: Zones = {
  'test.u.test': [{ A: '127.0.0.2' }],
  'test.h.test': [{ A: '127.0.0.2' }],
  '2.0.0.127.i.test': [{ A: '127.0.0.2' }],
  'listed.example.u.test': [{ A: '127.0.0.2' }],
  'bare.example.u.test': [{ A: '127.0.0.2' }],
  'from.example.h.test': [{ A: '127.0.0.2' }],
  [reversedName('2001:db8::1', 'i.test') ?? '']: [{ A: '127.0.0.2' }],
};

function setup(lists: Record<string, unknown>, maxUris = 50, exclude: string[] = []) {
  const section = dnsblSectionSchema.parse(lists);
  const resolver = createZoneResolver(ZONES);
  const asked: string[] = [];
  const logged = { lookup: resolver.lookup.bind(resolver) };
  const engine = createDnsblEngine({
    resolver: { lookup: (name, type) => (asked.push(name), logged.lookup(name, type)) },
    lists: section,
    log: silentLogger,
    clock: new ManualClock(1_000_000),
  });
  const checks = createUriblChecks({ engine, section, settings: { maxUris, exclude: new Set(exclude) }, limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 } });
  return { checks, asked };
}

function dataContext(message: string, signal?: AbortSignal) {
  const raw = Buffer.from(message.replace(/\n/g, '\r\n'));
  const ctx = makeContext('data', {}, {}, signal ? { signal } : {});
  return { ...ctx, message: createMessageView(raw) };
}

test('the uribl check: e-mail domains only with emails: true; IPv6 literals only with ipv6: true, never a link-local one', async () => {
  const msg = 'From: a@from.example\nSubject: x\n\nhttp://listed.example/ mail bob@bare.example http://[2001:db8::1]/ http://[fe80::1]/\n';
  const off = setup({ u: { zone: 'u.test', kind: 'uri', codes: { '127.0.0.2': 'URIBL_U' } }, i: { zone: 'i.test', kind: 'uri_ip', codes: { '127.0.0.2': 'URIBL_I' } } });
  const [uribl] = off.checks;
  assert.equal(uribl?.name, 'uribl');
  assert.equal(off.checks.length, 1, 'no from_header list, no rhsbl_from_header check');
  assert.deepEqual([...(uribl?.symbols ?? [])].sort(), ['URIBL_I', 'URIBL_TEMPERROR', 'URIBL_U']);
  assert.deepEqual(await uribl?.run(dataContext(msg)), [{ symbol: 'URIBL_U', options: ['listed.example'] }]);
  assert.ok(!off.asked.some((n) => n.startsWith('bare.example')), `no e-mail domain asked: ${off.asked.join(' ')}`);
  assert.ok(!off.asked.includes(reversedName('2001:db8::1', 'i.test') ?? ''), 'no IPv6 literal asked in an IPv4 list');

  const on = setup({ u: { zone: 'u.test', kind: 'uri', emails: true, codes: { '127.0.0.2': 'URIBL_U' } }, i: { zone: 'i.test', kind: 'uri_ip', ipv6: true, codes: { '127.0.0.2': 'URIBL_I' } } });
  const hits = (await on.checks[0]?.run(dataContext(msg))) ?? [];
  assert.deepEqual(hits.map((h) => `${h.symbol}[${(h.options ?? []).join(',')}]`).sort(), ['URIBL_I[2001:db8::1]', 'URIBL_U[bare.example]', 'URIBL_U[listed.example]']);
  assert.ok(!on.asked.includes(reversedName('fe80::1', 'i.test') ?? ''), 'fe80::1 never asked');
  assert.ok(on.asked.includes(reversedName('2001:db8::1', 'i.test') ?? ''));
});

test('the rhsbl_from_header check: From and Reply-To domains, excluded ones skipped', async () => {
  const { checks, asked } = setup({ h: { zone: 'h.test', kind: 'from_header', codes: { '127.0.0.2': 'RHSBL_H' } } }, 50, ['gmail.com']);
  const check = checks.find((c) => c.name === 'rhsbl_from_header');
  assert.ok(check && check.phase === 'data');
  const ctx = dataContext('From: "A, B" <a@news.from.example>, c@gmail.com\nReply-To: <r@reply.example>\nSubject: x\n\nhi\n');
  assert.deepEqual(headerDomains(ctx), ['from.example', 'gmail.com', 'reply.example']);
  assert.deepEqual(await check.run(ctx), [{ symbol: 'RHSBL_H', options: ['from.example'] }]);
  assert.ok(!asked.some((n) => n.includes('gmail.com')));
});

test('a question name over 253 octets, or with a label over 63, is never sent (RFC 1035 §2.3.4)', async () => {
  const zones = createZoneResolver(ZONES);
  const asked: string[] = [];
  const lists = dnsblSectionSchema.parse({ h: { zone: 'h.test', kind: 'helo', health_check: false, codes: { '127.0.0.2': 'RHSBL_H' } } });
  const engine = createDnsblEngine({ resolver: { lookup: (name, type) => (asked.push(name), zones.lookup(name, type)) }, lists, log: silentLogger, clock: new ManualClock(1) });
  // 249 octets: a valid name, but not once the zone is added
  const long = Array.from({ length: 5 }, () => 'a'.repeat(49)).join('.');
  assert.equal((await engine.lookup('h', long)).status, 'skipped');
  assert.equal((await engine.lookup('h', `${'b'.repeat(64)}.example`)).status, 'skipped');
  assert.deepEqual(asked, []);
  await engine.lookup('h', 'ok.example');
  assert.deepEqual(asked, ['ok.example.h.test']);
});

test('a check whose deadline passes gives its temperror symbol naming the lists', async () => {
  const { checks } = setup({ u: { zone: 'u.test', kind: 'uri', codes: { '127.0.0.2': 'URIBL_U' } } });
  const ac = new AbortController();
  ac.abort();
  assert.deepEqual(await checks[0]?.run(dataContext('Subject: x\n\nhttp://listed.example/\n', ac.signal)), [{ symbol: 'URIBL_TEMPERROR', options: ['u'] }]);
});
