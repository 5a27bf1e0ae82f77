// URI block lists end to end: a front-of gateway delivering inline to a sink, resolving with a loopback dns2
// server that serves test lists of each kind (uri with codes, uri with bits, uri_ip, from_header). What was
// asked is read from the DNS server's query log; what hit, from X-Spamgate-Result on the delivered copy
// (helpers: test/helpers/uribl-gateway.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { explainCommand } from '../../src/commands/explain.ts';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { runCommand } from '../helpers/command-io.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { asked, BASE_ZONES, headers, htmlMessage, metricsText, rulesDir, send, start, symbolsOfDelivered, textMessage } from '../helpers/uribl-gateway.ts';

test('an HTML link is asked by its registered domain (public suffix list) and hits with the domain as option', async (t) => {
  const { gw, sink } = await start(t, { 'bad-site.co.uk.urib.test': [{ A: '127.0.1.2' }] });
  const reply = await send(t, gw, htmlMessage('<p>Great <a href="http://www.bad-site.co.uk/x?id=1">offer</a> and <a href="https://deep.sub.www.bad-site.example.co.uk/y">more</a></p>'));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('URIBL_TEST_SPAM'), { score: '4', options: ['bad-site.co.uk'] });
  const names = asked(gw, 'urib.test');
  assert.ok(names.includes('bad-site.co.uk'), names.join(' '));
  // co.uk is a public suffix: the registered domain of deep.sub.www.bad-site.example.co.uk is example.co.uk
  assert.ok(names.includes('example.co.uk'), names.join(' '));
  assert.ok(!names.some((n) => n.startsWith('www.') || n.startsWith('deep.')), `no host asked whole: ${names.join(' ')}`);
  const metrics = await metricsText(gw);
  assert.match(metrics, /spamgate_dnsbl_lookups_total\{list="urib",result="listed"\} 1\b/);
  assert.match(metrics, /spamgate_dnsbl_lookups_total\{list="urib",result="clean"\} 1\b/);
  assert.match(metrics, /spamgate_dnsbl_list_up\{list="urib"\} 1\b/);
});

test('a bitmask answer maps to one symbol per documented bit; 127.0.0.1 ("query refused") is a list error', async (t) => {
  const { gw, sink } = await start(t, {
    'multi-hit.example.multi.test': [{ A: '127.0.0.6' }],
    'refused.example.multi.test': [{ A: '127.0.0.1' }],
  });
  const reply = await send(t, gw, textMessage('See http://multi-hit.example/a and http://refused.example/b today.'));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('URIBL_TEST_BLACK')?.options, ['multi-hit.example']);
  assert.deepEqual(s.get('URIBL_TEST_GREY')?.options, ['multi-hit.example']);
  assert.ok(!s.has('URIBL_TEST_RED'));
  assert.ok(!s.has('URIBL_TEMPERROR'));
  const metrics = await metricsText(gw);
  assert.match(metrics, /spamgate_dnsbl_lookups_total\{list="multi",result="listed"\} 1\b/);
  assert.match(metrics, /spamgate_dnsbl_lookups_total\{list="multi",result="error"\} 1\b/);
  assert.ok(gw.logs.some((l) => l.msg === 'dnsbl list error' && l.list === 'multi' && String(l.reason).includes('127.0.0.1')), 'list error logged');
});

test('links in base64 and quoted-printable parts, and an href behind anchor text of another host, are found; excluded domains are never asked', async (t) => {
  const { gw, sink } = await start(
    t,
    {
      'b64-hidden.example.urib.test': [{ A: '127.0.1.2' }],
      'qp-hidden.example.urib.test': [{ A: '127.0.1.2' }],
      'href-target.example.urib.test': [{ A: '127.0.1.2' }],
      'mine.example.urib.test': [{ A: '127.0.1.2' }],
    },
    'uribl:\n  exclude: [mine.example]\n',
  );
  const b64 = Buffer.from('Your parcel: http://track.b64-hidden.example/p/123 and https://www.google.com/search\n').toString('base64');
  const qp = '<a href=3D"http://qp-hidden.example/=\nlogin">Sign in</a> <a href=3D"http://href-target.example/">https://www.paypal.com/</a> =\n<a href=3D"http://www.mine.example/">us</a>';
  const message =
    headers() +
    'Content-Type: multipart/alternative; boundary="b1"\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n' +
    b64 +
    '\n--b1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n' +
    qp +
    '\n--b1--\n';
  const reply = await send(t, gw, message);
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(new Set(s.get('URIBL_TEST_SPAM')?.options), new Set(['b64-hidden.example', 'qp-hidden.example', 'href-target.example']));
  const names = asked(gw, 'urib.test');
  assert.ok(names.includes('paypal.com'), `the host the anchor text shows is asked too: ${names.join(' ')}`);
  // mine.example by the test rules' exclude, google.com by the shipped one
  assert.ok(!gw.dns.log.some((q) => q.name.includes('mine.example') || q.name.includes('google.com')), gw.dns.log.map((q) => q.name).join(' '));
});

test('a link host with an underscore or an edge hyphen in a subdomain label is still asked by its registered domain', async (t) => {
  const { gw, sink } = await start(t, { 'underscore-spam.example.urib.test': [{ A: '127.0.1.2' }], 'hyphen-spam.example.urib.test': [{ A: '127.0.1.2' }] });
  const reply = await send(t, gw, htmlMessage('<a href="http://promo_1.underscore-spam.example/buy">buy</a> and http://-x.hyphen-spam.example/now'));
  assert.equal(reply.code, 250, reply.text);
  assert.deepEqual(new Set(symbolsOfDelivered(sink).get('URIBL_TEST_SPAM')?.options), new Set(['underscore-spam.example', 'hyphen-spam.example']));
});

test('hrefs a browser follows are asked: protocol-relative, broken by a tab or newline, written with character references', async (t) => {
  const { gw, sink } = await start(t, {
    'proto-rel.example.urib.test': [{ A: '127.0.1.2' }],
    'tab-broken.example.urib.test': [{ A: '127.0.1.2' }],
    'entity-colon.example.urib.test': [{ A: '127.0.1.2' }],
  });
  const html = '<a href="//proto-rel.example/x">a</a> <a href="ht&#x09;tp://tab-broken.example/">b</a> <a href="http&colon;&sol;&sol;entity-colon.example/">c</a>';
  const reply = await send(t, gw, htmlMessage(html));
  assert.equal(reply.code, 250, reply.text);
  assert.deepEqual(new Set(symbolsOfDelivered(sink).get('URIBL_TEST_SPAM')?.options), new Set(['proto-rel.example', 'tab-broken.example', 'entity-colon.example']));
});

test('a link after hundreds of spacer images and tracked links to one host is still asked', async (t) => {
  const { gw, sink } = await start(t, { 'hidden-spam.example.urib.test': [{ A: '127.0.1.2' }] });
  const padding = '<img src="http://cdn.example/spacer.gif">'.repeat(300) + Array.from({ length: 300 }, (_, i) => `<a href="http://news.example/t?id=${i}">${i}</a>`).join('');
  const reply = await send(t, gw, htmlMessage(`${padding}<a href="http://hidden-spam.example/">buy</a>`));
  assert.equal(reply.code, 250, reply.text);
  assert.deepEqual(symbolsOfDelivered(sink).get('URIBL_TEST_SPAM')?.options, ['hidden-spam.example']);
});

test('links to names of private networks (.local, .internal, home.arpa) are never asked, as private addresses are not', async (t) => {
  const { gw, sink } = await start(t, {});
  const reply = await send(t, gw, textMessage('See http://wiki.corp.local/p and https://fs.corp.internal/x and http://nas.home.arpa/ and http://public.example/'));
  assert.equal(reply.code, 250, reply.text);
  symbolsOfDelivered(sink);
  assert.deepEqual(asked(gw, 'urib.test'), ['public.example']);
});

test('links of an HTML attachment (a phishing page sent as invoice.html) are asked too', async (t) => {
  const { gw, sink } = await start(t, { 'phish-kit.example.urib.test': [{ A: '127.0.1.2' }] });
  const page = Buffer.from('<html><body><form action="https://harvest.phish-kit.example/post.php" method="post"><input name="pw"></form></body></html>').toString('base64');
  const message =
    headers() +
    'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nYour invoice is attached.\n' +
    '--b1\nContent-Type: text/html; name="invoice.html"\nContent-Disposition: attachment; filename="invoice.html"\nContent-Transfer-Encoding: base64\n\n' +
    page +
    '\n--b1--\n';
  const reply = await send(t, gw, message);
  assert.equal(reply.code, 250, reply.text);
  assert.deepEqual(symbolsOfDelivered(sink).get('URIBL_TEST_SPAM')?.options, ['phish-kit.example']);
});

test('at most max_uris distinct domains of a message are asked per list, the first ones found', async (t) => {
  const { gw, sink } = await start(t, {}, 'uribl:\n  max_uris: 3\n');
  const links = [1, 2, 3, 4, 5, 6].map((i) => `<a href="http://www.d${i}.example/">${i}</a> <a href="http://shop.d${i}.example/">again</a>`).join(' ');
  const reply = await send(t, gw, htmlMessage(links));
  assert.equal(reply.code, 250, reply.text);
  symbolsOfDelivered(sink);
  assert.deepEqual(asked(gw, 'urib.test').sort(), ['d1.example', 'd2.example', 'd3.example']);
  assert.deepEqual(asked(gw, 'multi.test').sort(), ['d1.example', 'd2.example', 'd3.example']);
});

test('a link to a public IP literal is asked reversed in the uri_ip list; a 10.x literal is never asked', async (t) => {
  const { gw, sink } = await start(t, { '7.100.51.198.ipbl.test': [{ A: '127.0.0.2' }] });
  const reply = await send(t, gw, htmlMessage('<a href="http://198.51.100.7/login">bank</a> <a href="http://10.1.2.3/intranet">x</a> http://[::1]/y http://0x7f.1/z'));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('URIBL_TEST_IP')?.options, ['198.51.100.7']);
  assert.deepEqual(asked(gw, 'ipbl.test'), ['7.100.51.198']);
  assert.deepEqual(asked(gw, 'urib.test'), [], 'an address is no domain');
});

/** The RFC 5782 §2.4 nibble name of an IPv6 address (fully written), as a list is asked it. */
function nibbles(groups: readonly string[]): string {
  return groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.');
}

test('IPv6 forms of private IPv4 addresses (6to4, IPv4-compatible, IPv4-mapped, NAT64) are never asked, as link hosts or name server addresses', async (t) => {
  const rules = `dnsbl:
  ipbl6:
    zone: ipbl6.test
    kind: uri_ip
    ipv6: true
    codes: { 127.0.0.2: URIBL_TEST_IP6 }
  nsip6:
    zone: nsip6.test
    kind: uri_ns
    ns_ip: true
    ipv6: true
    codes: { 127.0.0.2: URIBL_TEST_NS_IP6 }
symbols:
  URIBL_TEST_IP6: { weight: 1, description: "test uri_ip list, IPv6" }
  URIBL_TEST_NS_IP6: { weight: 1, description: "test uri_ns list, name server addresses, IPv6" }
`;
  const publicV6 = nibbles(['2001', 'db8', '0', '0', '0', '0', '0', '7']);
  const publicNs = nibbles(['2001', 'db8', '0', '0', '0', '0', '0', '53']);
  const zones = {
    '2.0.0.127.ipbl6.test': [{ A: '127.0.0.2' }],
    '2.0.0.127.nsip6.test': [{ A: '127.0.0.2' }],
    [`${publicV6}.ipbl6.test`]: [{ A: '127.0.0.2' }],
    [`${publicNs}.nsip6.test`]: [{ A: '127.0.0.2' }],
    'hosted.example': [{ NS: 'ns1.dns-host.example' }, { NS: 'ns2.dns-host.example' }],
    'ns1.dns-host.example': [{ AAAA: '2002:a00:1::53' }, { AAAA: '::ffff:192.168.1.53' }],
    'ns2.dns-host.example': [{ AAAA: '::10.0.0.53' }, { AAAA: '64:ff9b::a00:35' }, { AAAA: '2001:db8::53' }],
  };
  const { gw, sink } = await start(t, zones, rules);
  const links = ['2002:a00:1::1', '2002:c0a8:101::1', '::10.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a00:1', '2001:db8::7'].map((ip) => `<a href="http://[${ip}]/login">x</a>`);
  const reply = await send(t, gw, htmlMessage(`${links.join(' ')} <a href="https://www.hosted.example/">shop</a>`));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('URIBL_TEST_IP6')?.options, ['2001:db8::7']);
  assert.deepEqual(s.get('URIBL_TEST_NS_IP6')?.options, ['hosted.example/ns=2001:db8::53']);
  // counted at the DNS server: the one public address of each kind asked, no private one in any form
  assert.deepEqual(asked(gw, 'ipbl6.test'), [publicV6]);
  assert.deepEqual(asked(gw, 'ipbl.test'), [], 'no private IPv4 unwrapped from a link either');
  assert.deepEqual(asked(gw, 'nsip6.test'), [publicNs]);
});

test('the header From and Reply-To domains are asked in the from_header list', async (t) => {
  const { gw, sink } = await start(t, { 'listed-sender.example.fromhdr.test': [{ A: '127.0.1.2' }] });
  const reply = await send(t, gw, textMessage('Hello.', '"Shop" <news@mail.listed-sender.example>', 'Reply-To: Desk <desk@replies.example>\n'));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('RHSBL_TEST_FROM_HDR'), { score: '2.5', options: ['listed-sender.example'] });
  assert.deepEqual(asked(gw, 'fromhdr.test').sort(), ['listed-sender.example', 'replies.example']);
});

test('links to our own local_domains, and a From or Reply-To at them, are never asked (their registered domains)', async (t) => {
  const listed = { A: '127.0.1.2' };
  const { gw, sink } = await start(
    t,
    { 'ours.example.urib.test': [listed], 'ours.example.fromhdr.test': [listed], 'theirs.example.urib.test': [listed] },
    '',
    { local_domains: ['localhost', 'mail.ours.example'] },
  );
  const html = '<a href="https://www.ours.example/unsubscribe">us</a> <a href="http://theirs.example/">them</a>';
  const reply = await send(t, gw, htmlMessage(html, '"Us" <news@mail.ours.example>', 'Reply-To: <desk@ours.example>\n'));
  assert.equal(reply.code, 250, reply.text);
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('URIBL_TEST_SPAM')?.options, ['theirs.example']);
  assert.ok(!s.has('RHSBL_TEST_FROM_HDR'));
  for (const zone of ['urib.test', 'multi.test', 'fromhdr.test']) assert.ok(!asked(gw, zone).some((n) => n.includes('ours.example')), `${zone}: ${asked(gw, zone).join(' ')}`);
});

test('a URI list that times out gives URIBL_TEMPERROR (weight 0) naming the list; the message is delivered', async (t) => {
  const { gw, sink } = await start(t, { 'slow.example.urib.test': 'TIMEOUT', 'bad.example.multi.test': [{ A: '127.0.0.2' }] });
  const started = Date.now();
  const reply = await send(t, gw, textMessage('http://slow.example/ and http://bad.example/'));
  assert.equal(reply.code, 250, reply.text);
  assert.ok(Date.now() - started < 5000, 'within the check budget');
  const s = symbolsOfDelivered(sink);
  assert.deepEqual(s.get('URIBL_TEMPERROR'), { score: '0', options: ['urib'] });
  assert.deepEqual(s.get('URIBL_TEST_BLACK')?.options, ['bad.example'], 'the other lists still count');
});

test('a reject weight refuses the message at the end of DATA with the reply naming the domain', async (t) => {
  const { gw, sink } = await start(t, { 'phish.example.urib.test': [{ A: '127.0.1.4' }] });
  const reply = await send(t, gw, htmlMessage('<a href="https://login.phish.example/account">Verify your account</a>'));
  assert.equal(reply.code, 554, reply.text);
  assert.match(reply.text, /^5\.7\.1 Message links to a listed domain \(phish\.example\)$/);
  assert.equal(sink.messages.length, 0);
  const tx = gw.transactions().at(-1);
  assert.equal(tx?.action, 'reject');
});

test('spamgate explain asks the URI lists too, through dns.servers, and shows the hits with their domains', async (t) => {
  const dns = await startDnsServer({ ...BASE_ZONES, 'bad-site.co.uk.urib.test': [{ A: '127.0.1.2' }], 'listed-sender.example.fromhdr.test': [{ A: '127.0.1.2' }] });
  t.after(() => dns.close());
  const dir = await rulesDir(t);
  const root = await mkdtemp(path.join(os.tmpdir(), 'spamgate-uribl-explain-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const configFile = path.join(root, 'spamgate.yaml');
  await writeFile(configFile, `rules_dirs: [${SHIPPED_RULES_DIR}, ${dir}]\ndns: { servers: ["${dns.server}"], timeout: 300ms, retries: 0 }\n`);
  const file = path.join(root, 'message.eml');
  await writeFile(file, htmlMessage('<a href="http://www.bad-site.co.uk/x">offer</a>', '<news@listed-sender.example>'));
  const args = { flags: new Map<string, string | true>([['no-bayes', true]]), positional: [file], dataDir: path.join(root, 'data'), configFile };
  const out = await runCommand(explainCommand, args);
  assert.equal(out.code, 0, out.err);
  assert.match(out.out, /URIBL_TEST_SPAM\b.*bad-site\.co\.uk/);
  assert.match(out.out, /RHSBL_TEST_FROM_HDR\b.*listed-sender\.example/);
  assert.ok(dns.count('bad-site.co.uk.urib.test', 'A') > 0);
});
