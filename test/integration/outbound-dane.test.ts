// DANE (RFC 7672) in outbound MX delivery over real sockets: a dns2 server standing in for a local validating
// resolver (AD bit per name, SERVFAIL for bogus data, raw TLSA rdata), sink SMTP servers on 127.0.0.1 and
// 127.0.0.2 with STARTTLS and certificates made by openssl (self-signed, or a leaf of a throwaway CA presented with
// the CA in its chain), and an HTTPS MTA-STS policy host for the precedence of DANE over MTA-STS.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { createSecureDns } from '../../src/dns/secure-dns.ts';
import { parseNameServer } from '../../src/dns/servers.ts';
import { createOutbound, type OutboundOptions } from '../../src/mailhost/outbound.ts';
import type { SessionEvent } from '../../src/mailhost/tlsrpt-store.ts';
import { createRegistry, type Registry } from '../../src/metrics/registry.ts';
import { capturingLogger } from '../helpers/capture-logs.ts';
import { startDnssecDns, type DnssecDns, type DnssecEntry } from '../helpers/dnssec-dns.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { makeTestCa } from '../helpers/test-ca.ts';

const DOMAIN = 'dane.test';
const RCPT = 'bob@dane.test';
const MESSAGE = Buffer.from('From: alice@gw.test\r\nTo: bob@dane.test\r\nSubject: dane\r\n\r\nhello\r\n');

type Files = { cert: Buffer; key: Buffer };
const selfSigned = (t: TestContext, cn: string): Files => {
  const f = selfSignedCert(t, cn);
  return { cert: readFileSync(f.cert), key: readFileSync(f.key) };
};
const firstCert = (pem: Buffer): X509Certificate => new X509Certificate(pem);
const spkiSha256 = (pem: Buffer): Buffer => createHash('sha256').update(firstCert(pem).publicKey.export({ type: 'spki', format: 'der' })).digest();
const certSha256 = (pem: Buffer): Buffer => createHash('sha256').update(firstCert(pem).raw).digest();
const tlsa = (usage: number, selector: number, matchingType: number, data: Buffer): Buffer => Buffer.concat([Buffer.from([usage, selector, matchingType]), data]);

interface World {
  sinks: SinkServer[];
  dns: DnssecDns;
  registry: Registry;
  events: SessionEvent[];
  logs: Array<Record<string, unknown>>;
  port: number;
  deliver(): Promise<{ status: string; text: string }>;
  metric(name: string, labels: Record<string, string>): Promise<number>;
}

/** Sinks (one per MX: mx1 on 127.0.0.1, mx2 on 127.0.0.2, same port), zones made once the port is known. */
async function world(t: TestContext, sinkTls: Array<Files | undefined>, zones: (port: number) => Record<string, DnssecEntry>, extra: { outbound?: Record<string, unknown>; options?: Partial<OutboundOptions> } = {}): Promise<World> {
  const sinks: SinkServer[] = [];
  for (const [i, files] of sinkTls.entries()) {
    const sink = await startSink({ host: `127.0.0.${i + 1}`, ...(i > 0 ? { port: sinks[0]?.port ?? 0 } : {}), ...(files ? { tls: files } : {}) });
    t.after(() => sink.close());
    sinks.push(sink);
  }
  const port = sinks[0]?.port ?? 0;
  const dns = await startDnssecDns(zones(port));
  t.after(() => dns.close());
  const registry = createRegistry(false);
  const { log, logs } = capturingLogger('debug');
  const events: SessionEvent[] = [];
  const config = configSchema.parse({ outbound: { port, connect_timeout: '2s', command_timeout: '5s', dane: 'on', mta_sts: { timeout: '2s' }, ...extra.outbound } }).outbound;
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 500, retries: 0 });
  const server = parseNameServer(dns.server);
  assert.ok(server);
  const secureDns = createSecureDns({ servers: [server], timeoutMs: 500, retries: 0 });
  const out = createOutbound({ resolver, secureDns, config, hostname: 'gw.test', log, random: () => 0.5, registry, tlsReports: { record: (e) => void events.push(e) }, ...extra.options });
  t.after(() => out.close());
  return {
    sinks,
    dns,
    registry,
    events,
    logs,
    port,
    async deliver() {
      const r = (await out.deliver('alice@gw.test', DOMAIN, [RCPT], MESSAGE)).get(RCPT);
      assert.ok(r);
      return { status: r.status, text: `${r.reply.code} ${r.reply.enhanced ?? ''} ${r.reply.text}` };
    },
    async metric(name, labels) {
      const m = await registry.getSingleMetric(name)?.get();
      return m?.values.find((x) => Object.entries(labels).every(([k, v]) => String(x.labels[k]) === v))?.value ?? 0;
    },
  };
}

/** One MX (mx1.dane.test → 127.0.0.1), or two (mx2 at preference 20 → 127.0.0.2); every name secure unless set. */
const mxZones = (port: number, tlsa1: DnssecEntry, two?: DnssecEntry): Record<string, DnssecEntry> => ({
  [DOMAIN]: { records: [{ MX: [10, 'mx1.dane.test'] }, ...(two ? [{ MX: [20, 'mx2.dane.test'] as [number, string] }] : [])] },
  'mx1.dane.test': { records: [{ A: '127.0.0.1' }] },
  'mx2.dane.test': { records: [{ A: '127.0.0.2' }] },
  [`_${port}._tcp.mx1.dane.test`]: tlsa1,
  ...(two ? { [`_${port}._tcp.mx2.dane.test`]: two } : {}),
});

test('DANE-EE SPKI SHA-256 matches: delivered over TLS, the TLSA question asked with AD, a tlsa success reported', async (t) => {
  const files = selfSigned(t, 'whatever.invalid');
  const w = await world(t, [files], (port) => mxZones(port, { records: [{ TLSA: tlsa(3, 1, 1, spkiSha256(files.cert)) }] }));
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(w.sinks[0]?.messages[0]?.secure, true);
  assert.ok(w.dns.log.some((q) => q.type === 'TLSA' && q.ad), 'TLSA asked with the AD bit');
  assert.equal(await w.metric('spamgate_outbound_dane_total', { result: 'verified' }), 1);
  const ev = w.events.at(-1);
  assert.equal(ev?.policy.type, 'tlsa');
  assert.equal(ev?.ok, true);
  assert.ok(ev?.policy.type === 'tlsa' && ev.policy.lines[0]?.startsWith('3 1 1 '));
});

test('DANE-EE full certificate SHA-256 (3 0 1) matches too', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [files], (port) => mxZones(port, { records: [{ TLSA: tlsa(3, 0, 1, certSha256(files.cert)) }] }));
  assert.equal((await w.deliver()).status, 'delivered');
});

test('TLSA mismatch at the first MX: deferred there, nothing in clear, the next MX (matching) gets the message', async (t) => {
  const one = selfSigned(t, 'mx1.dane.test');
  const two = selfSigned(t, 'mx2.dane.test');
  const w = await world(t, [one, two], (port) => mxZones(port, { records: [{ TLSA: tlsa(3, 1, 1, spkiSha256(two.cert)) }] }, { records: [{ TLSA: tlsa(3, 1, 1, spkiSha256(two.cert)) }] }));
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(w.sinks[0]?.messages.length, 0, 'mx1 got nothing');
  assert.equal(w.sinks[0]?.connectionCount, 1, 'mx1: one connection, no second one in clear');
  assert.equal(w.sinks[1]?.messages[0]?.secure, true);
  assert.equal(await w.metric('spamgate_outbound_dane_total', { result: 'tlsa_mismatch' }), 1);
  const failed = w.events.find((e) => !e.ok);
  assert.ok(failed && !failed.ok);
  assert.equal(failed.policy.type, 'tlsa');
  assert.equal(failed.failure.resultType, 'tlsa-invalid');
  assert.equal(failed.failure.receivingMxHostname, 'mx1.dane.test');
  assert.ok(w.logs.some((l) => l.msg === 'DANE: MX host failed TLSA authentication, deferred' && l.host === 'mx1.dane.test'));
});

test('TLSA mismatch at the only MX: the message stays queued (4.7.5), never sent in clear', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [files], (port) => mxZones(port, { records: [{ TLSA: tlsa(3, 1, 1, Buffer.alloc(32, 9)) }] }));
  const r = await w.deliver();
  assert.equal(r.status, 'temp');
  assert.match(r.text, /^451 4\.7\.5 DANE: mx1\.dane\.test \[127\.0\.0\.1\]: DANE: no TLSA record matches/);
  assert.equal(w.sinks[0]?.messages.length, 0);
  assert.equal(w.sinks[0]?.connectionCount, 1);
});

test('DANE-TA: a leaf for the MX name with the CA in its chain matches a 2 0 1 record of the CA; a leaf for another name does not', async (t) => {
  const ca = makeTestCa(t);
  const good = ca.issue(['mx1.dane.test']);
  const w = await world(t, [{ cert: Buffer.concat([good.cert, ca.ca]), key: good.key }], (port) => mxZones(port, { records: [{ TLSA: tlsa(2, 0, 1, certSha256(ca.ca)) }] }));
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(w.sinks[0]?.messages[0]?.secure, true);

  const bad = ca.issue(['other.example']);
  const w2 = await world(t, [{ cert: Buffer.concat([bad.cert, ca.ca]), key: bad.key }], (port) => mxZones(port, { records: [{ TLSA: tlsa(2, 0, 1, certSha256(ca.ca)) }] }));
  const r2 = await w2.deliver();
  assert.equal(r2.status, 'temp', r2.text);
  assert.match(r2.text, /certificate names none of mx1\.dane\.test/);
  assert.equal(w2.sinks[0]?.messages.length, 0);
});

test('TLSA without the AD bit (insecure): no DANE, delivered opportunistically despite records that match nothing', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [files], (port) => mxZones(port, { records: [{ TLSA: tlsa(3, 1, 1, Buffer.alloc(32, 9)) }], insecure: true }));
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(await w.metric('spamgate_outbound_dane_total', { result: 'tlsa_insecure' }), 1);
});

test('insecure MX RRset: no TLSA look-up at all', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [files], (port) => ({ ...mxZones(port, { records: [{ TLSA: tlsa(3, 1, 1, Buffer.alloc(32, 9)) }] }), [DOMAIN]: { records: [{ MX: [10, 'mx1.dane.test'] }], insecure: true } }));
  assert.equal((await w.deliver()).status, 'delivered');
  assert.equal(w.dns.log.filter((q) => q.type === 'TLSA').length, 0);
  assert.equal(await w.metric('spamgate_outbound_dane_total', { result: 'mx_insecure' }), 1);
});

test('secure MX, TLSA look-up SERVFAIL (bogus): deferred without connecting, dnssec-invalid reported', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [files], (port) => mxZones(port, { records: [], servfail: ['TLSA'] }));
  const r = await w.deliver();
  assert.equal(r.status, 'temp', r.text);
  assert.match(r.text, /^451 4\.7\.5 DANE: TLSA look-up of _\d+\._tcp\.mx1\.dane\.test: SERVFAIL/);
  assert.equal(w.sinks[0]?.connectionCount, 0, 'not contacted');
  const failed = w.events.find((e) => !e.ok);
  assert.ok(failed && !failed.ok && failed.failure.resultType === 'dnssec-invalid');
  assert.equal(await w.metric('spamgate_outbound_dane_total', { result: 'lookup_failed' }), 1);
});

test('only unusable TLSA records (PKIX-EE, malformed): TLS without matching, delivered', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [files], (port) => mxZones(port, { records: [{ TLSA: tlsa(1, 1, 1, Buffer.alloc(32, 9)) }, { TLSA: tlsa(3, 1, 1, Buffer.alloc(5)) }] }));
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(await w.metric('spamgate_outbound_dane_total', { result: 'tlsa_unusable' }), 1);
});

test('only unusable TLSA records, the server offers no STARTTLS: deferred, nothing sent in clear (RFC 7672 §2.2: TLS still required)', async (t) => {
  const w = await world(t, [undefined], (port) => mxZones(port, { records: [{ TLSA: tlsa(1, 1, 1, Buffer.alloc(32, 9)) }] }));
  const r = await w.deliver();
  assert.equal(r.status, 'temp', r.text);
  assert.match(r.text, /STARTTLS required but not offered/);
  assert.equal(w.sinks[0]?.messages.length, 0);
  assert.equal(await w.metric('spamgate_outbound_dane_total', { result: 'tlsa_unusable' }), 1);
});

test('TLSA present, the server offers no STARTTLS: deferred, nothing sent in clear', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [undefined], (port) => mxZones(port, { records: [{ TLSA: tlsa(3, 1, 1, spkiSha256(files.cert)) }] }));
  const r = await w.deliver();
  assert.equal(r.status, 'temp', r.text);
  assert.match(r.text, /^451 4\.7\.5 DANE: .*STARTTLS required but not offered/);
  assert.equal(w.sinks[0]?.messages.length, 0);
  assert.equal(await w.metric('spamgate_outbound_dane_total', { result: 'no_starttls' }), 1);
  const failed = w.events.find((e) => !e.ok);
  assert.ok(failed && !failed.ok && failed.failure.resultType === 'starttls-not-supported' && failed.policy.type === 'tlsa');
});

test('DANE takes precedence over an MTA-STS enforce policy that the MX fails (RFC 8461 §2)', async (t) => {
  const ca = makeTestCa(t);
  const policyTls = ca.issue(['mta-sts.dane.test']);
  const web = https.createServer(policyTls, (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.example\r\nmax_age: 86400\r\n'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => web.close(() => r())));
  const policyPort = (web.address() as AddressInfo).port;
  const files = selfSigned(t, 'mx1.dane.test');
  const zones = (port: number): Record<string, DnssecEntry> => ({
    ...mxZones(port, { records: [{ TLSA: tlsa(3, 1, 1, spkiSha256(files.cert)) }] }),
    '_mta-sts.dane.test': { records: [{ TXT: 'v=STSv1; id=1' }] },
    'mta-sts.dane.test': { records: [{ A: '127.0.0.1' }] },
  });
  const w = await world(t, [files], zones, { options: { mtaSts: { policyPort, ca: ca.ca } } });
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(w.sinks[0]?.messages[0]?.secure, true);
  // the same world without DANE: the enforce policy refuses the MX
  const w2 = await world(t, [files], zones, { outbound: { dane: 'off' }, options: { mtaSts: { policyPort, ca: ca.ca } } });
  const r2 = await w2.deliver();
  assert.equal(r2.status, 'temp');
  assert.match(r2.text, /MTA-STS policy of dane\.test \(enforce\)/);
});

test('config: dane on with a name server not on this host, or with a relay, is refused', () => {
  const remote = configSchema.safeParse({ outbound: { dane: 'on' }, dns: { servers: ['192.0.2.53'] } });
  assert.equal(remote.success, false);
  assert.match(JSON.stringify(remote.error?.issues), /validating resolver on this host/);
  assert.equal(configSchema.safeParse({ outbound: { dane: 'on' }, dns: { servers: ['127.0.0.1:5353', '[::1]:53'] } }).success, true);
  assert.equal(configSchema.safeParse({ outbound: { dane: 'on', relay: { host: 'smtp.example' } } }).success, false);
  assert.equal(configSchema.parse({}).outbound.dane, 'off');
});

test('an MX host name that is a secure CNAME: TLSA at the expanded name first (RFC 7672 §2.2.3)', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [files], (port) => ({
    [DOMAIN]: { records: [{ MX: [10, 'mx1.dane.test'] }] },
    'mx1.dane.test': { records: [{ CNAME: 'real.hosting.test' }] },
    'real.hosting.test': { records: [{ A: '127.0.0.1' }] },
    [`_${port}._tcp.real.hosting.test`]: { records: [{ TLSA: tlsa(3, 1, 1, Buffer.alloc(32, 9)) }] },
    [`_${port}._tcp.mx1.dane.test`]: { records: [{ TLSA: tlsa(3, 1, 1, spkiSha256(files.cert)) }] },
  }));
  const r = await w.deliver();
  // the expanded name's records (which match nothing) are the ones used: the MX name's are never asked for
  assert.equal(r.status, 'temp', r.text);
  assert.match(r.text, /no TLSA record matches/);
  assert.ok(w.dns.log.some((q) => q.type === 'TLSA' && q.name === `_${w.port}._tcp.real.hosting.test`));
  assert.ok(!w.dns.log.some((q) => q.type === 'TLSA' && q.name === `_${w.port}._tcp.mx1.dane.test`));
});

test('a pooled DANE connection is not reused once the TLSA records changed: the next message is matched anew and deferred', async (t) => {
  const files = selfSigned(t, 'mx1.dane.test');
  const w = await world(t, [files], (port) => mxZones(port, { records: [{ TLSA: tlsa(3, 1, 1, spkiSha256(files.cert)) }] }));
  assert.equal((await w.deliver()).status, 'delivered');
  // the domain's TLSA now names another key: the connection verified under the old records must not carry mail
  w.dns.set(`_${w.port}._tcp.mx1.dane.test`, { records: [{ TLSA: tlsa(3, 1, 1, Buffer.alloc(32, 7)) }] });
  const r = await w.deliver();
  assert.equal(r.status, 'temp', r.text);
  assert.match(r.text, /^451 4\.7\.5 DANE: .*no TLSA record matches/);
  assert.equal(w.sinks[0]?.messages.length, 1, 'the second message went nowhere');
});
