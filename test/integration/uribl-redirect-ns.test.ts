// URI block lists end to end, beyond the link hosts: links through open redirectors (their targets asked as
// links, nested ones too, to uribl.redirect_depth) and uri_ns lists (the name servers of the link domains asked
// by registered domain, or with ns_ip by public address), with the per-message bounds counted at the test DNS
// server's query log. Gateway, lists and helpers: test/helpers/uribl-gateway.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Zones } from '../helpers/dns-server.ts';
import { asked, htmlMessage, send, start, symbolsOfDelivered, textMessage } from '../helpers/uribl-gateway.ts';

const LISTED = { A: '127.0.1.2' };

const NS_LISTS = `dnsbl:
  nsbl:
    zone: nsbl.test
    kind: uri_ns
    codes:
      127.0.1.2: URIBL_TEST_NS
  nsip:
    zone: nsip.test
    kind: uri_ns
    ns_ip: true
    codes:
      127.0.0.2: URIBL_TEST_NS_IP
symbols:
  URIBL_TEST_NS: { weight: 3, description: "test uri_ns list, name server domain" }
  URIBL_TEST_NS_IP: { weight: 2, description: "test uri_ns list, name server address" }
`;

/** Health test points of the uri_ns lists (RFC 5782 §5). */
const NS_ZONES: Zones = {
  'test.nsbl.test': [LISTED],
  '2.0.0.127.nsip.test': [{ A: '127.0.0.2' }],
};

test('a link through an open redirector is asked by its target too, percent-encoded or not; the redirector host is still asked', async (t) => {
  const { gw, sink } = await start(t, { 'evil.example.urib.test': [LISTED], 'pct-evil.example.urib.test': [LISTED] });
  const html =
    '<a href="https://www.google.com/url?q=https://www.evil.example/offer&amp;sa=D&amp;usg=AOv">Open</a> ' +
    '<a href="https://t.umblr.com/redirect?z=https%3A%2F%2Fpct-evil.example%2Fx%3Fa%3D1&amp;t=ZmE">see</a>';
  const reply = await send(t, gw, htmlMessage(html));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(new Set(s.get('URIBL_TEST_SPAM')?.options), new Set(['evil.example', 'pct-evil.example']));
  const names = asked(gw, 'urib.test');
  // google.com stays excluded (shipped exclude); umblr.com, the redirector's own domain, is asked as any link
  assert.ok(names.includes('umblr.com'), names.join(' '));
  assert.ok(!names.includes('google.com'), names.join(' '));
});

test('the shipped redirectors: Google under any country domain, LinkedIn /safety/go, Bing /ck/a (a1 + base64url)', async (t) => {
  const targets = ['uk-evil.example', 'de-evil.example', 'au-evil.example', 'li-evil.example', 'bing-evil.example'];
  const { gw, sink } = await start(t, Object.fromEntries(targets.map((d) => [`${d}.urib.test`, [LISTED]])));
  const bing = (target: string): string => `https://www.bing.com/ck/a?!&amp;&amp;p=0c5d8e&amp;u=a1${Buffer.from(target).toString('base64url')}&amp;ntb=1`;
  const html = [
    '<a href="https://www.google.co.uk/url?q=https://uk-evil.example/&amp;sa=D">1</a>',
    '<a href="https://google.de/url?url=https%3A%2F%2Fde-evil.example%2F">2</a>',
    '<a href="https://www.google.com.au/url?sa=t&amp;url=https://au-evil.example/x">3</a>',
    '<a href="https://www.linkedin.com/safety/go?url=https%3A%2F%2Fli-evil.example%2Fo&amp;trk=flagship-messaging">4</a>',
    `<a href="${bing('https://bing-evil.example/p')}">5</a>`,
    // a Bing link whose target is no web link, or no base64: nothing more
    `<a href="${bing('javascript:alert(1)//script-evil.example')}">6</a>`,
    '<a href="https://www.bing.com/ck/a?u=a1!!!notbase64&amp;ntb=1">7</a>',
  ].join(' ');
  const reply = await send(t, gw, htmlMessage(html));
  assert.equal(reply.code, 250, reply.text);
  assert.deepEqual(new Set(symbolsOfDelivered(sink).get('URIBL_TEST_SPAM')?.options), new Set(targets));
  // counted at the DNS server: each target asked once, the redirectors' own domains as links (the shipped exclude
  // names registered domains only: linkedin.com is in it, Google's country domains are not)
  const names = asked(gw, 'urib.test');
  for (const d of targets) assert.equal(names.filter((n) => n === d).length, 1, `${d}: ${names.join(' ')}`);
  assert.deepEqual(names.filter((n) => !targets.includes(n)).sort(), ['bing.com', 'google.co.uk', 'google.com.au', 'google.de']);
});

test('exclude entries name.*: that name under any ICANN public suffix is never asked, in links, From or as a name server', async (t) => {
  const zones: Zones = {
    ...NS_ZONES,
    'fresh.example': [{ NS: 'ns1.partner.de' }, { NS: 'ns.partner.blogspot.com' }],
    'partner.blogspot.com.urib.test': [LISTED],
  };
  const { gw, sink } = await start(t, zones, `${NS_LISTS}uribl:
  exclude: [partner.*]
`);
  const html = [
    'https://partner.co.uk/a',
    'https://www.partner.de/b',
    'http://shop.partner.com.au/c',
    // .example is no suffix of the list's ICANN section: partner.example is asked
    'https://partner.example/d',
    // a blog on a shared hosting domain (the list's private section) is no partner site; nor is a longer name
    'https://partner.blogspot.com/e',
    'https://notpartner.de/f',
    'https://partner.de.evil.example/g',
    'https://fresh.example/h',
    // the shipped exclude has no name.* entry: a country domain of a shipped name is asked as any link
    'https://www.google.fr/maps',
    'https://www.amazon.co.jp/dp/1',
    'https://news.yahoo.co.uk/',
  ].map((u, i) => `<a href="${u}">${i}</a>`).join(' ');
  const reply = await send(t, gw, htmlMessage(html, 'Partner <news@mail.partner.fr>'));
  assert.equal(reply.code, 250, reply.text);
  assert.deepEqual(symbolsOfDelivered(sink).get('URIBL_TEST_SPAM')?.options, ['partner.blogspot.com']);
  // counted at the DNS server
  assert.deepEqual(asked(gw, 'urib.test').sort(), ['amazon.co.jp', 'evil.example', 'fresh.example', 'google.fr', 'notpartner.de', 'partner.blogspot.com', 'partner.example', 'yahoo.co.uk']);
  assert.deepEqual(asked(gw, 'fromhdr.test'), [], 'From at partner.fr: excluded');
  // the name servers of fresh.example: ns1.partner.de excluded, the blog's asked
  assert.deepEqual(asked(gw, 'nsbl.test'), ['partner.blogspot.com']);
});

test('nested redirectors are unwrapped to redirect_depth; a redirector of the rules files (host, path, parameter) counts too', async (t) => {
  const zones = { 'deep-evil.example.urib.test': [LISTED], 'own-target.example.urib.test': [LISTED] };
  // google → tumblr → deep-evil.example, each level encoded once more
  const inner = `https://t.umblr.com/redirect?z=${encodeURIComponent('https://deep-evil.example/')}`;
  const nested = `https://www.google.com/url?q=${encodeURIComponent(inner)}`;
  const custom = 'http://go.tracker.example/r/42?dest=https://own-target.example/p';
  const rules = 'uribl:\n  redirectors:\n    - { host: tracker.example, path: /r/, params: [dest] }\n';
  const deep = await start(t, zones, rules);
  assert.equal((await send(t, deep.gw, htmlMessage(`<a href="${nested}">a</a> <a href="${custom}">b</a>`))).code, 250);
  assert.deepEqual(new Set(symbolsOfDelivered(deep.sink).get('URIBL_TEST_SPAM')?.options), new Set(['deep-evil.example', 'own-target.example']));

  const shallow = await start(t, zones, `${rules}  redirect_depth: 1\n`);
  assert.equal((await send(t, shallow.gw, htmlMessage(`<a href="${nested}">a</a>`))).code, 250);
  assert.ok(!symbolsOfDelivered(shallow.sink).has('URIBL_TEST_SPAM'));
  assert.deepEqual(asked(shallow.gw, 'urib.test'), ['umblr.com'], 'one level: the tumblr link is reached, not its target');
});

test('a redirector parameter that holds no web link gives nothing more', async (t) => {
  const { gw, sink } = await start(t, { 'bare-name.example.urib.test': [LISTED], 'script.example.urib.test': [LISTED], 'control.example.urib.test': [LISTED] });
  const text = [
    'https://www.google.com/url?q=https://control.example/',
    'https://www.google.com/url?q=hello+world',
    'https://www.google.com/url?q=bare-name.example',
    'https://www.google.com/url?q=javascript%3Aalert(document.domain)//script.example',
    'https://www.google.com/url?q=https%3A%2F%2F',
    'https://www.google.com/search?q=https://bare-name.example/',
  ].join('\n');
  const reply = await send(t, gw, textMessage(text));
  assert.equal(reply.code, 250, reply.text);
  // the one redirector link with a web link as its target is the only one unwrapped
  assert.deepEqual(symbolsOfDelivered(sink).get('URIBL_TEST_SPAM')?.options, ['control.example']);
  assert.deepEqual(asked(gw, 'urib.test'), ['control.example']);
});

test('uri_ns: the name servers of a link domain are asked by registered domain, and with ns_ip by public address', async (t) => {
  const zones: Zones = {
    ...NS_ZONES,
    'fresh-spam.example': [{ NS: 'ns1.bad-dns.example' }, { NS: 'ns2.bad-dns.example' }],
    'ns1.bad-dns.example': [{ A: '198.51.100.53' }],
    'ns2.bad-dns.example': [{ A: '10.0.0.53' }],
    'bad-dns.example.nsbl.test': [LISTED],
    '53.100.51.198.nsip.test': [{ A: '127.0.0.2' }],
  };
  const { gw, sink } = await start(t, zones, NS_LISTS);
  const reply = await send(t, gw, htmlMessage('<a href="https://shop.fresh-spam.example/buy">buy</a>'));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('URIBL_TEST_NS'), { score: '3', options: ['fresh-spam.example/ns=bad-dns.example'] });
  assert.deepEqual(s.get('URIBL_TEST_NS_IP'), { score: '2', options: ['fresh-spam.example/ns=198.51.100.53'] });
  assert.ok(!s.has('URIBL_TEMPERROR'));
  // two name servers under one domain: one question; the private address of ns2 is never told to a list
  assert.deepEqual(asked(gw, 'nsbl.test'), ['bad-dns.example']);
  assert.deepEqual(asked(gw, 'nsip.test'), ['53.100.51.198']);
  assert.equal(gw.dns.count('fresh-spam.example', 'NS'), 1);
});

test('uri_ns bounds: max_ns_domains link domains, max_ns_hosts name servers each, max_ns_lookups lookups; excluded ones never', async (t) => {
  const zones: Zones = { ...NS_ZONES };
  for (let i = 1; i <= 6; i++) {
    zones[`d${i}.example`] = [1, 2, 3].map((n) => ({ NS: `ns${n}.dns${i}-${n}.example` }));
    for (let n = 1; n <= 3; n++) zones[`ns${n}.dns${i}-${n}.example`] = [{ A: `198.51.100.${i * 10 + n}` }];
  }
  const rules = `${NS_LISTS}uribl:\n  exclude: [d1.example]\n  max_ns_domains: 3\n  max_ns_hosts: 2\n  max_ns_lookups: 5\n`;
  const { gw, sink } = await start(t, zones, rules);
  const links = [1, 2, 3, 4, 5, 6].map((i) => `<a href="http://www.d${i}.example/">${i}</a>`).join(' ');
  const reply = await send(t, gw, htmlMessage(links));
  assert.equal(reply.code, 250, reply.text);
  symbolsOfDelivered(sink);
  const nsAsked = gw.dns.log.filter((q) => q.type === 'NS').map((q) => q.name);
  // d1 excluded; the first three others, in link order
  assert.deepEqual(nsAsked.sort(), ['d2.example', 'd3.example', 'd4.example']);
  // two name servers of each (the first two by name), three domains: six names, each asked once
  assert.deepEqual(asked(gw, 'nsbl.test').sort(), ['dns2-1.example', 'dns2-2.example', 'dns3-1.example', 'dns3-2.example', 'dns4-1.example', 'dns4-2.example']);
  // 3 NS lookups spent: 2 left for the name servers' addresses, so two addresses asked at most
  const addressLookups = gw.dns.log.filter((q) => q.type === 'A' && /^ns\d\.dns/.test(q.name));
  assert.equal(addressLookups.length, 2, addressLookups.map((q) => q.name).join(' '));
  assert.equal(asked(gw, 'nsip.test').length, 2);
});

test('uri_ns: a name server domain already asked as a link of a list of the same zone is not asked again (one DBL listing scores once)', async (t) => {
  // dbl_uri and dbl_ns alike: a uri list and a uri_ns list of one zone (urib.test, the uri list of the helper)
  const list = '  samezone_ns:\n    zone: urib.test\n    kind: uri_ns\n    codes:\n      127.0.1.2: URIBL_TEST_SAMEZONE_NS\n';
  const symbol = '  URIBL_TEST_SAMEZONE_NS: { weight: 3, description: "test uri_ns list in the zone of a uri list" }\n';
  const rules = NS_LISTS.replace('symbols:\n', `${list}symbols:\n${symbol}`);
  const zones: Zones = {
    ...NS_ZONES,
    // evil.example served by name servers under itself and by another listed DNS host; fresh.example by evil.example's
    'evil.example': [{ NS: 'ns1.evil.example' }, { NS: 'ns2.evil.example' }, { NS: 'ns.listed-dns.example' }],
    'fresh.example': [{ NS: 'ns3.evil.example' }],
    'evil.example.urib.test': [LISTED],
    'listed-dns.example.urib.test': [LISTED],
    'evil.example.nsbl.test': [LISTED],
  };
  const { gw, sink } = await start(t, zones, rules);
  const reply = await send(t, gw, htmlMessage('<a href="https://www.evil.example/buy">buy</a> <a href="https://fresh.example/">new</a>'));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('URIBL_TEST_SPAM')?.options, ['evil.example'], 'the link listing scores, by the link');
  assert.deepEqual(s.get('URIBL_TEST_SAMEZONE_NS')?.options, ['evil.example/ns=listed-dns.example'], 'evil.example is not scored again as a name server');
  // another zone's uri_ns list was not asked evil.example as a link: it asks it as a name server
  assert.deepEqual(new Set(s.get('URIBL_TEST_NS')?.options), new Set(['evil.example/ns=evil.example']));
  // counted at the DNS server: evil.example asked of urib.test once (by the uri list), listed-dns.example once
  assert.equal(gw.dns.count('evil.example.urib.test', 'A'), 1);
  assert.equal(gw.dns.count('listed-dns.example.urib.test', 'A'), 1);
  assert.deepEqual(asked(gw, 'urib.test').sort(), ['evil.example', 'fresh.example', 'listed-dns.example']);
});
