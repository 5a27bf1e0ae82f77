// The DNS checks end to end through a running gateway: SPF, DNSBL/RHSBL, FCrDNS, DKIM, DMARC against a
// loopback dns2 server, with the client address presented by XCLIENT (loopback itself is not checked).
// The gateway runs front-of with inline delivery to a sink, so an accepted message is the sink's copy
// with X-Spamgate-Result, Received-SPF and Authentication-Results prepended.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import type { Zones } from '../helpers/dns-server.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { SmtpWire, type Reply } from '../helpers/smtp-wire.ts';

type Json = Record<string, unknown>;

const CLIENT = '192.0.2.10';
const CLIENT_NAME = 'mail.sender.example';
const RCPT = 'postmaster@localhost';

interface Running {
  gw: RunningGateway;
  sink: SinkServer;
}

/** A front-of gateway (XCLIENT from loopback, no trusted networks, small budgets) delivering inline to a sink. */
async function start(t: TestContext, zones: Zones, extra: Json = {}): Promise<Running> {
  const sink = await startSink();
  t.after(() => sink.close());
  const smtp = { xclient_from: ['127.0.0.1/32'], trusted_networks: [], ...((extra.smtp as Json | undefined) ?? {}) };
  const config: Json = {
    mode: 'front-of',
    delivery: { mode: 'inline', upstream: { host: sink.host, port: sink.port } },
    checks: { timeout: '1500ms' },
    // 1 s, under checks.timeout: a loaded machine can take over 300 ms to read the test server's answer
    dns: { timeout: '1s', retries: 0 },
    ...extra,
    smtp,
  };
  return { gw: await startGateway(t, config, { zones }), sink };
}

/** Zones every test starts from: FCrDNS for the client, SPF for its HELO name. */
function baseZones(extra: Zones = {}): Zones {
  return {
    '10.2.0.192.in-addr.arpa': [{ PTR: CLIENT_NAME }],
    [CLIENT_NAME]: [{ A: CLIENT }, { TXT: `v=spf1 ip4:${CLIENT} -all` }],
    'pass.example': [{ TXT: `v=spf1 ip4:${CLIENT} -all` }],
    ...extra,
  };
}

/** A rules dir with a test DNSBL (dnsbl.test), a from-domain RHSBL (rhsbl.test) and a HELO RHSBL (helobl.test). */
async function testRulesDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-rules-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    path.join(dir, 'zz-test-lists.yaml'),
    `dnsbl:
  testbl:
    zone: dnsbl.test
    kind: ip
    ipv4: true
    ipv6: true
    txt: true
    codes:
      127.0.0.2: DNSBL_TEST_LISTED
      127.0.0.3: DNSBL_TEST_DYNAMIC
  testrhs:
    zone: rhsbl.test
    kind: from_domain
    codes:
      127.0.1.2: RHSBL_TEST_SPAM
  testhelo:
    zone: helobl.test
    kind: helo
    codes:
      127.0.1.2: RHSBL_TEST_HELO
symbols:
  DNSBL_TEST_LISTED:
    weight: reject
    reply: "554 5.7.1 Client address listed in dnsbl.test ({options})"
    description: test list, listed
  DNSBL_TEST_DYNAMIC:
    weight: 2.5
    description: test list, dynamic range
  RHSBL_TEST_SPAM:
    weight: 4
    description: test domain list, spam domain
  RHSBL_TEST_HELO:
    weight: 3.5
    description: test HELO list
`,
  );
  return dir;
}

/** RFC 5782 §5 test points of the three test lists, so each list passes its health check. */
const LIST_HEALTH: Zones = {
  '2.0.0.127.dnsbl.test': [{ A: '127.0.0.2' }],
  'test.rhsbl.test': [{ A: '127.0.1.2' }],
  'test.helobl.test': [{ A: '127.0.1.2' }],
};

async function startWithLists(t: TestContext, zones: Zones, config: Json = {}): Promise<Running> {
  const dir = await testRulesDir(t);
  return start(t, baseZones({ ...LIST_HEALTH, ...zones }), { rules_dirs: [SHIPPED_RULES_DIR, dir], ...config });
}

/** Opens a session and hands it to `addr` by XCLIENT (Postfix style: EHLO, XCLIENT, 220, EHLO again). */
async function xclient(t: TestContext, gw: RunningGateway, opts: { addr?: string; name?: string; helo?: string } = {}): Promise<{ wire: SmtpWire; ehlo: Reply }> {
  const { wire, greeting } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal(greeting.code, 220);
  const first = await wire.command('EHLO proxy.test');
  assert.ok(first.lines.some((l) => l.slice(4).startsWith('XCLIENT')), `XCLIENT advertised: ${first.lines.join('|')}`);
  const addr = opts.addr ?? CLIENT;
  const handed = await wire.command(`XCLIENT ADDR=${net.isIPv6(addr) ? `IPV6:${addr}` : addr} NAME=${opts.name ?? CLIENT_NAME}`);
  assert.equal(handed.code, 220, `XCLIENT accepted: ${handed.lines.join('|')}`);
  const ehlo = await wire.command(`EHLO ${opts.helo ?? CLIENT_NAME}`);
  assert.equal(ehlo.code, 250);
  return { wire, ehlo };
}

interface Outcome {
  mail: Reply;
  rcpt?: Reply;
  data?: Reply;
}

/** One transaction on an open session; stops at the first refusal. */
async function transaction(wire: SmtpWire, from: string, body: string, rcpt = RCPT): Promise<Outcome> {
  const mail = await wire.command(`MAIL FROM:<${from}>`);
  if (mail.code !== 250) return { mail };
  const r = await wire.command(`RCPT TO:<${rcpt}>`);
  if (r.code !== 250) return { mail, rcpt: r };
  const go = await wire.command('DATA');
  assert.equal(go.code, 354);
  wire.write(body.endsWith('\r\n') ? body : `${body}\r\n`);
  return { mail, rcpt: r, data: await wire.command('.', 10_000) };
}

function message(from: string, extraHeaders = '', body = 'Hello there.\r\n'): string {
  return `From: ${from}\r\nTo: <${RCPT}>\r\nSubject: dns checks\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@test>\r\n${extraHeaders}\r\n${body}`;
}

/** Every message the sink got, in order, with its header section unfolded into name → values. */
function delivered(sink: SinkServer): Array<{ raw: string; headers: Map<string, string[]> }> {
  const out: Array<{ raw: string; headers: Map<string, string[]> }> = [];
  for (const m of sink.messages) {
    const raw = m.raw.toString('latin1');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
    const headers = new Map<string, string[]>();
    for (const line of head.split('\r\n')) {
      const i = line.indexOf(':');
      const key = line.slice(0, i).toLowerCase();
      headers.set(key, [...(headers.get(key) ?? []), line.slice(i + 1).trim()]);
    }
    out.push({ raw, headers });
  }
  return out;
}

function onlyMessage(sink: SinkServer): { raw: string; headers: Map<string, string[]> } {
  const msgs = delivered(sink);
  assert.equal(msgs.length, 1, 'exactly one message delivered');
  return msgs[0] as { raw: string; headers: Map<string, string[]> };
}

/** SYMBOL → "(score)[options]" parsed from the X-Spamgate-Result header. */
function symbolsOf(result: string): Map<string, { score: string; options: string }> {
  const out = new Map<string, { score: string; options: string }>();
  for (const m of result.matchAll(/([A-Z][A-Z0-9_]+)\(([^)]*)\)(?:\[([^\]]*)\])?/g)) out.set(m[1] ?? '', { score: m[2] ?? '', options: m[3] ?? '' });
  return out;
}

function resultHeader(msg: { headers: Map<string, string[]> }): string {
  const v = msg.headers.get('x-spamgate-result');
  assert.equal(v?.length, 1, 'one X-Spamgate-Result header');
  return v?.[0] ?? '';
}

async function metricsText(gw: RunningGateway): Promise<string> {
  assert.ok(gw.httpPort, 'http listener');
  const res = await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

// ---------------------------------------------------------------- SPF

test('SPF pass: SPF_PASS and FCrDNS pass in the result header, Received-SPF pass, spf=pass in Authentication-Results', async (t) => {
  const { gw, sink } = await start(t, baseZones());
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'alice@pass.example', message('<alice@pass.example>'));
  assert.equal(out.data?.code, 250, JSON.stringify(out));
  const msg = onlyMessage(sink);
  const symbols = symbolsOf(resultHeader(msg));
  assert.equal(symbols.get('SPF_PASS')?.score, '-1');
  assert.match(symbols.get('SPF_PASS')?.options ?? '', /pass\.example/);
  assert.equal(symbols.get('SPF_HELO_PASS')?.score, '0');
  assert.equal(symbols.get('RDNS_FCRDNS_PASS')?.options, CLIENT_NAME);
  assert.ok(!symbols.has('CHECK_TIMEOUT') && !symbols.has('CHECK_ERROR'), resultHeader(msg));
  const spf = msg.headers.get('received-spf') ?? [];
  assert.equal(spf.length, 1);
  assert.match(spf[0] ?? '', /^pass \(/);
  assert.match(spf[0] ?? '', /client-ip=192\.0\.2\.10;/);
  assert.match(spf[0] ?? '', /envelope-from=alice@pass\.example;/);
  assert.match(spf[0] ?? '', /receiver=mx\.test\.example;/);
  const ar = msg.headers.get('authentication-results')?.[0] ?? '';
  assert.match(ar, /^mx\.test\.example;/);
  assert.match(ar, /spf=pass smtp\.mailfrom=pass\.example/);
  const tx = gw.transactions()[0];
  assert.equal(tx?.client_ip, CLIENT, 'the XCLIENT address is the one checked and logged');
});

test('SPF fail refuses MAIL FROM with 550 5.7.23; the session goes on', async (t) => {
  const { gw, sink } = await start(t, baseZones({ 'fail.example': [{ TXT: 'v=spf1 ip4:198.51.100.1 -all' }] }));
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'mallory@fail.example', message('<mallory@fail.example>'));
  assert.equal(out.mail.code, 550);
  assert.match(out.mail.text, /^5\.7\.23 /);
  // The session goes on: the next sender, whose SPF passes, is accepted.
  const next = await transaction(wire, 'alice@pass.example', message('<alice@pass.example>'));
  assert.equal(next.data?.code, 250);
  assert.equal((delivered(sink)).length, 1);
});

test('a null-MX sender domain is refused at MAIL with 550 5.7.27 (RFC 7505); a domain that does not exist is scored', async (t) => {
  const { gw, sink } = await start(t, baseZones({ 'nomail.example': [{ MX: [0, '.'] }] }));
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'x@nomail.example', message('<x@nomail.example>'));
  assert.equal(out.mail.code, 550);
  assert.match(out.mail.text, /^5\.7\.27 /);
  const next = await transaction(wire, 'y@gone.example', message('<y@gone.example>'));
  assert.equal(next.data?.code, 250, JSON.stringify(next));
  assert.equal(symbolsOf(resultHeader(onlyMessage(sink))).get('FROM_DOMAIN_NXDOMAIN')?.options, 'gone.example');
});

test('SPF softfail is accepted and scored', async (t) => {
  const { gw, sink } = await start(t, baseZones({ 'soft.example': [{ TXT: 'v=spf1 ip4:198.51.100.1 ~all' }] }));
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'bob@soft.example', message('<bob@soft.example>'));
  assert.equal(out.mail.code, 250);
  assert.equal(out.data?.code, 250);
  const msg = onlyMessage(sink);
  const header = resultHeader(msg);
  assert.equal(symbolsOf(header).get('SPF_SOFTFAIL')?.score, '3');
  assert.ok(!symbolsOf(header).has('SPF_PASS'));
  assert.match(msg.headers.get('received-spf')?.[0] ?? '', /^softfail /);
  const tx = gw.transactions()[0];
  assert.ok(typeof tx?.score === 'number' && tx.score >= 3, `score counts the softfail: ${String(tx?.score)}`);
});

test('SPF permerror (unknown mechanism) is accepted with SPF_PERMERROR', async (t) => {
  const { gw, sink } = await start(t, baseZones({ 'broken.example': [{ TXT: `v=spf1 ip4:${CLIENT} frobnicate:x -all` }] }));
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'carol@broken.example', message('<carol@broken.example>'));
  assert.equal(out.data?.code, 250, JSON.stringify(out));
  const msg = onlyMessage(sink);
  assert.equal(symbolsOf(resultHeader(msg)).get('SPF_PERMERROR')?.score, '2');
  assert.match(msg.headers.get('received-spf')?.[0] ?? '', /^permerror /);
  assert.match(msg.headers.get('authentication-results')?.[0] ?? '', /spf=permerror smtp\.mailfrom=broken\.example/);
});

test('SPF temperror (sender domain never answers): MAIL gets 451 4.4.3 within the budget, not accepted', async (t) => {
  const { gw, sink } = await start(t, baseZones({ 'slow.example': 'TIMEOUT' }), { checks: { timeout: '1500ms' }, dns: { timeout: '200ms', retries: 0 } });
  const { wire } = await xclient(t, gw);
  const started = Date.now();
  const out = await transaction(wire, 'dave@slow.example', message('<dave@slow.example>'));
  const took = Date.now() - started;
  assert.equal(out.mail.code, 451, JSON.stringify(out.mail));
  assert.match(out.mail.text, /^4\.4\.3 /);
  assert.ok(took < 1500, `answered within the check budget (${took} ms)`);
  assert.equal((delivered(sink)).length, 0);
  assert.equal((await wire.command('QUIT')).code, 221, 'the session is still alive');
});

test('SPF temperror when the check budget ends before the DNS timeout: still 451 4.4.3, not accepted as clean', async (t) => {
  // dns.timeout (3 s) outlasts checks.timeout (400 ms): the check's deadline must turn into SPF_TEMPERROR.
  const { gw } = await start(t, baseZones({ 'slow.example': 'TIMEOUT' }), { checks: { timeout: '400ms' }, dns: { timeout: '3s', retries: 0 } });
  const { wire } = await xclient(t, gw);
  const started = Date.now();
  const mail = await wire.command('MAIL FROM:<dave@slow.example>');
  const took = Date.now() - started;
  assert.ok(took < 2000, `answered near the check budget (${took} ms)`);
  assert.equal(mail.code, 451, `MAIL must be deferred, got ${mail.code} ${mail.text}`);
  assert.match(mail.text, /^4\.4\.3 /);
});

// ---------------------------------------------------------------- DNSBL / RHSBL

test('DNSBL: a listed IPv4 client is refused at MAIL with the list reply; a clean one is accepted', async (t) => {
  const { gw, sink } = await startWithLists(t, {
    '10.2.0.192.dnsbl.test': [{ A: '127.0.0.2' }, { TXT: 'listed for testing' }],
    '11.2.0.192.in-addr.arpa': [{ PTR: 'clean.sender.example' }],
    'clean.sender.example': [{ A: '192.0.2.11' }],
  });
  const listed = await xclient(t, gw);
  const out = await transaction(listed.wire, 'alice@pass.example', message('<alice@pass.example>'));
  assert.equal(out.mail.code, 554, JSON.stringify(out.mail));
  assert.match(out.mail.text, /^5\.7\.1 Client address listed in dnsbl\.test \(.*listed for testing.*\)$/, "the TXT reason is in the reply");

  const clean = await xclient(t, gw, { addr: '192.0.2.11', name: 'clean.sender.example' });
  const ok = await transaction(clean.wire, 'x@other.example', message('<x@other.example>'));
  assert.equal(ok.data?.code, 250, JSON.stringify(ok));
  const header = resultHeader(onlyMessage(sink));
  assert.ok(![...symbolsOf(header).keys()].some((s) => s.startsWith('DNSBL_')), header);
  const metrics = await metricsText(gw);
  assert.match(metrics, /spamgate_dnsbl_lookups_total\{list="testbl",result="listed"\} 1\b/);
  assert.match(metrics, /spamgate_dnsbl_lookups_total\{list="testbl",result="clean"\} 1\b/);
  assert.match(metrics, /spamgate_dnsbl_list_up\{list="testbl"\} 1\b/);
});

test('DNSBL: a scored (non-reject) listing carries its code and the TXT reason', async (t) => {
  const { gw, sink } = await startWithLists(t, { '10.2.0.192.dnsbl.test': [{ A: '127.0.0.3' }, { TXT: 'dynamic range' }] });
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'alice@pass.example', message('<alice@pass.example>'));
  assert.equal(out.data?.code, 250, JSON.stringify(out));
  const hit = symbolsOf(resultHeader(onlyMessage(sink))).get('DNSBL_TEST_DYNAMIC');
  assert.equal(hit?.score, '2.5');
  assert.match(hit?.options ?? '', /testbl/);
  assert.match(hit?.options ?? '', /127\.0\.0\.3/);
  assert.match(hit?.options ?? '', /dynamic range/);
});

test('DNSBL: an undocumented answer (127.255.255.254) is a list error, not a listing: accepted, counted, logged', async (t) => {
  const { gw, sink } = await startWithLists(t, { '10.2.0.192.dnsbl.test': [{ A: '127.255.255.254' }] });
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'alice@pass.example', message('<alice@pass.example>'));
  assert.equal(out.mail.code, 250, JSON.stringify(out.mail));
  assert.equal(out.data?.code, 250);
  const header = resultHeader(onlyMessage(sink));
  assert.ok(!symbolsOf(header).has('DNSBL_TEST_LISTED') && !symbolsOf(header).has('DNSBL_TEST_DYNAMIC'), header);
  const metrics = await metricsText(gw);
  assert.match(metrics, /spamgate_dnsbl_lookups_total\{list="testbl",result="error"\} 1\b/);
  assert.ok(gw.logs.some((l) => l.msg === 'dnsbl list error' && l.list === 'testbl' && String(l.reason).includes('127.255.255.254')), 'list error logged');
});

test('DNSBL: an IPv6 client is looked up by its nibble-reversed name and refused when listed', async (t) => {
  // 2001:db8::1 → 32 nibbles, reversed (RFC 5782 §2.4).
  const nibbles = '20010db8000000000000000000000001'.split('').reverse().join('.');
  const { gw } = await startWithLists(t, { [`${nibbles}.dnsbl.test`]: [{ A: '127.0.0.2' }] });
  const { wire } = await xclient(t, gw, { addr: '2001:db8::1', name: 'v6.sender.example' });
  const out = await transaction(wire, 'alice@pass.example', message('<alice@pass.example>'));
  assert.equal(out.mail.code, 554, JSON.stringify(out.mail));
  assert.match(out.mail.text, /listed in dnsbl\.test/);
  // HELO without SPF records, so the null sender's SPF (HELO identity) is none.
  const other = await xclient(t, gw, { addr: '2001:db8::2', name: 'v6b.sender.example', helo: 'v6b.sender.example' });
  const mail = await other.wire.command('MAIL FROM:<>');
  assert.equal(mail.code, 250, 'a neighbouring, unlisted IPv6 address is not refused');
});

test('RHSBL: the MAIL FROM domain and the HELO name are looked up in their lists and scored', async (t) => {
  const { gw, sink } = await startWithLists(t, {
    'spammy.example.rhsbl.test': [{ A: '127.0.1.2' }],
    'spammy.example': [{ TXT: `v=spf1 ip4:${CLIENT} -all` }],
    [`${CLIENT_NAME}.helobl.test`]: [{ A: '127.0.1.2' }],
  });
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'eve@spammy.example', message('<eve@spammy.example>'));
  assert.equal(out.data?.code, 250, JSON.stringify(out));
  const second = await transaction(wire, 'alice@pass.example', message('<alice@pass.example>'));
  assert.equal(second.data?.code, 250);
  const [first, clean] = delivered(sink);
  const s1 = symbolsOf(resultHeader(first ?? { headers: new Map() }));
  assert.equal(s1.get('RHSBL_TEST_SPAM')?.score, '4');
  assert.match(s1.get('RHSBL_TEST_SPAM')?.options ?? '', /testrhs/);
  assert.equal(s1.get('RHSBL_TEST_HELO')?.score, '3.5');
  const s2 = symbolsOf(resultHeader(clean ?? { headers: new Map() }));
  assert.ok(!s2.has('RHSBL_TEST_SPAM'), 'the second sender domain is not listed');
  assert.equal(s2.get('RHSBL_TEST_HELO')?.score, '3.5', 'the HELO listing holds for the whole session');
});

// ---------------------------------------------------------------- FCrDNS

test('FCrDNS fail (PTR name does not resolve back) and no PTR at all are scored', async (t) => {
  const { gw, sink } = await start(t, baseZones({
    '20.2.0.192.in-addr.arpa': [{ PTR: 'liar.example' }],
    'liar.example': [{ A: '198.51.100.9' }],
    'any.example': [{ TXT: 'v=spf1 ?all' }],
  }));
  const liar = await xclient(t, gw, { addr: '192.0.2.20', name: 'liar.example', helo: 'liar.example' });
  assert.equal((await transaction(liar.wire, 'a@any.example', message('<a@any.example>'))).data?.code, 250);
  const none = await xclient(t, gw, { addr: '192.0.2.21', name: 'unknown.example', helo: 'unknown.example' });
  assert.equal((await transaction(none.wire, 'a@any.example', message('<a@any.example>'))).data?.code, 250);
  const [m1, m2] = delivered(sink);
  const s1 = symbolsOf(resultHeader(m1 ?? { headers: new Map() }));
  assert.equal(s1.get('RDNS_FCRDNS_FAIL')?.score, '1');
  assert.equal(s1.get('RDNS_FCRDNS_FAIL')?.options, 'liar.example');
  assert.ok(!s1.has('RDNS_FCRDNS_PASS'));
  const s2 = symbolsOf(resultHeader(m2 ?? { headers: new Map() }));
  assert.equal(s2.get('RDNS_NONE')?.score, '1.5');
});

// ---------------------------------------------------------------- DKIM / DMARC

function dkimKey(): { privateKey: string; record: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: `v=DKIM1; k=rsa; p=${p}` };
}

async function signed(privateKey: string, domain: string, msg: string): Promise<string> {
  // mailauth signs what signatureData lists (its typings also ask for the top-level fields).
  const key = { signingDomain: domain, selector: 'sel1', privateKey };
  const res = await dkimSign(msg, { ...key, canonicalization: 'relaxed/relaxed', signatureData: [key] });
  assert.deepEqual(res.errors, []);
  assert.ok(res.signatures.startsWith('DKIM-Signature:'), res.signatures);
  return res.signatures + msg;
}

test('DKIM pass and fail (body altered after signing), with DMARC pass for the aligned signature', async (t) => {
  const key = dkimKey();
  const { gw, sink } = await start(t, baseZones({
    'sel1._domainkey.pass.example': [{ TXT: key.record }],
    '_dmarc.pass.example': [{ TXT: 'v=DMARC1; p=reject' }],
    'other.example': [{ TXT: `v=spf1 ip4:${CLIENT} -all` }],
  }));
  const { wire } = await xclient(t, gw);
  // Envelope sender in another domain: DMARC can pass only through the aligned DKIM signature.
  const good = await signed(key.privateKey, 'pass.example', message('<alice@pass.example>'));
  assert.equal((await transaction(wire, 'bounce@other.example', good)).data?.code, 250);
  const tampered = (await signed(key.privateKey, 'pass.example', message('<alice@pass.example>', '', 'Original body.\r\n'))).replace('Original body.', 'Altered body!');
  const bad = await transaction(wire, 'alice@pass.example', tampered);
  assert.equal(bad.data?.code, 250, 'a failed signature is scored, and SPF keeps DMARC passing');
  const [m1, m2] = delivered(sink);
  const s1 = symbolsOf(resultHeader(m1 ?? { headers: new Map() }));
  assert.equal(s1.get('DKIM_PASS')?.score, '-1');
  assert.equal(s1.get('DKIM_PASS')?.options, 'pass.example');
  assert.equal(s1.get('DMARC_PASS')?.score, '-1');
  const ar1 = m1?.headers.get('authentication-results')?.[0] ?? '';
  assert.match(ar1, /dkim=pass [^;]*header\.d=pass\.example/);
  assert.match(ar1, /dmarc=pass/);
  const s2 = symbolsOf(resultHeader(m2 ?? { headers: new Map() }));
  assert.equal(s2.get('DKIM_FAIL')?.score, '2');
  assert.ok(!s2.has('DKIM_PASS'));
  assert.match(m2?.headers.get('authentication-results')?.[0] ?? '', /dkim=fail/);
});

test('DMARC p=reject: an unaligned, unsigned message is refused after DATA with 550 5.7.1', async (t) => {
  const { gw, sink } = await start(t, baseZones({
    '_dmarc.strict.example': [{ TXT: 'v=DMARC1; p=reject; adkim=s; aspf=s' }],
    'other.example': [{ TXT: `v=spf1 ip4:${CLIENT} -all` }],
  }));
  const { wire } = await xclient(t, gw);
  const out = await transaction(wire, 'bounce@other.example', message('"The Boss" <boss@strict.example>'));
  assert.equal(out.mail.code, 250, 'SPF passes for the envelope domain');
  assert.equal(out.data?.code, 550, JSON.stringify(out.data));
  assert.match(out.data?.text ?? '', /^5\.7\.1 /);
  assert.equal((delivered(sink)).length, 0);
  const tx = gw.transactions().at(-1);
  assert.equal(tx?.decided_by, 'DMARC_FAIL_REJECT');
  assert.equal((await wire.command('QUIT')).code, 221);
});

// ---------------------------------------------------------------- trust

test('XCLIENT from a trusted proxy: the presented client is checked, not trusted like the proxy', async (t) => {
  // Default trusted_networks (loopback): the proxy on 127.0.0.1 is trusted, the client it presents is not.
  const { gw } = await start(t, baseZones({ 'fail.example': [{ TXT: 'v=spf1 ip4:198.51.100.1 -all' }] }), { smtp: { trusted_networks: ['127.0.0.0/8'] } });
  const { wire } = await xclient(t, gw);
  const mail = await wire.command('MAIL FROM:<mallory@fail.example>');
  assert.equal(mail.code, 550, `SPF fail of the presented client 192.0.2.10 must refuse, got ${mail.code} ${mail.text}`);
  assert.match(mail.text, /^5\.7\.23 /);
});

// ---------------------------------------------------------------- DNS down

/** A UDP and TCP "name server" on one port that reads every question and never answers. */
async function blackHole(t: TestContext): Promise<string> {
  const udp = dgram.createSocket('udp4');
  udp.on('message', () => undefined);
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()));
  const port = udp.address().port;
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.resume();
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', () => resolve());
  }).catch(() => undefined); // UDP alone is enough when the TCP port is taken
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => udp.close(() => r()));
    await new Promise<void>((r) => (tcp.listening ? tcp.close(() => r()) : r()));
  });
  return `127.0.0.1:${port}`;
}

test('DNS unreachable: every check ends within its budget; null sender accepted with temperror symbols, a domain sender deferred', async (t) => {
  const dir = await testRulesDir(t);
  const server = await blackHole(t);
  const { gw, sink } = await start(t, {}, { rules_dirs: [SHIPPED_RULES_DIR, dir], checks: { timeout: '700ms' }, dns: { servers: [server], timeout: '250ms', retries: 0 } });
  const started = Date.now();
  const { wire } = await xclient(t, gw, { helo: '[192.0.2.10]' });
  // Null sender + address-literal HELO: SPF has no identity to check, the rest fails soft.
  const out = await transaction(wire, '', message('<alerts@monitor.example>'));
  assert.equal(out.mail.code, 250, JSON.stringify(out.mail));
  assert.equal(out.data?.code, 250, JSON.stringify(out.data));
  const withDomain = await wire.command('MAIL FROM:<someone@unreachable.example>');
  assert.equal(withDomain.code, 451, `${withDomain.code} ${withDomain.text}`);
  assert.match(withDomain.text, /^4\.4\.3 /);
  assert.equal((await wire.command('QUIT')).code, 221);
  const took = Date.now() - started;
  // Per phase at most one budget: connect, helo, mail, data, then mail again.
  assert.ok(took < 5 * 700 + 1000, `session completed in ${took} ms`);
  const s = symbolsOf(resultHeader(onlyMessage(sink)));
  const all = [...s.keys()].join(' ');
  assert.ok(s.has('RDNS_TEMPERROR'), all);
  // A health probe that times out says nothing about the list: it is not declared dead, and the
  // lookup's own failure shows as DNSBL_TEMPERROR naming the list.
  assert.equal(s.get('DNSBL_TEMPERROR')?.options, 'testbl', all);
  assert.ok(!gw.logs.some((l) => l.msg === 'dnsbl list failed its health check; skipped'), 'no list declared dead by a DNS outage');
  assert.ok(s.has('DMARC_TEMPERROR'), all);
  assert.deepEqual(s.get('DKIM_NONE'), { score: '0', options: '' }, 'unsigned: DKIM_NONE without a bogus option');
  assert.ok(!s.has('CHECK_TIMEOUT'), `every DNS check ended on its own, within its budget: ${all}`);
});
