// SMTP TLS reporting (RFC 8460) over real sockets: outbound MX deliveries to sink SMTP servers (a good TLS MX, one
// without STARTTLS, one whose certificate fails an MTA-STS policy) are counted; the next UTC day the report goes to
// the rua of the domain's TLSRPT record (a dns2 server): by mail to the sink (gunzipped JSON checked field by
// field) or POSTed to a local HTTPS server trusted through the test CA; no record or a malformed one: none sent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import PostalMime from 'postal-mime';
import { configSchema } from '../../src/config/schema.ts';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import type { Resolver } from '../../src/dns/resolver.ts';
import { createOutbound } from '../../src/mailhost/outbound.ts';
import { createTlsReporter, type TlsReporter } from '../../src/mailhost/tlsrpt-reporter.ts';
import { TLS_REPORTS_FILE } from '../../src/mailhost/tlsrpt-setup.ts';
import { createTlsReportStore } from '../../src/mailhost/tlsrpt-store.ts';
import { createRegistry, type Registry } from '../../src/metrics/registry.ts';
import { domainOf } from '../../src/queue/router.ts';
import type { MessageSink, QueueEnvelope } from '../../src/queue/types.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { createLogger } from '../../src/util/logger.ts';
import { startDnsServer, type TestDnsServer, type Zones } from '../helpers/dns-server.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { makeTestCa, type TestCa } from '../helpers/test-ca.ts';
import { capturingLogger } from '../helpers/capture-logs.ts';

type Json = Record<string, unknown>;
/** 10:00 UTC on the reported day. */
const T0 = Date.parse('2026-03-10T10:00:00Z');
const REPORT_DAY = '2026-03-10';
const RUA = 'tlsrpt@reports.test';
const MESSAGE = Buffer.from('From: alice@gw.test\r\nTo: bob@sts.test\r\nSubject: hello\r\n\r\nhello\r\n');
const policyText = (mode: string, mx = 'mx.sts.test'): string => `version: STSv1\r\nmode: ${mode}\r\nmx: ${mx}\r\nmax_age: 86400\r\n`;

interface World {
  ca: TestCa;
  clock: ManualClock;
  dns: TestDnsServer;
  registry: Registry;
  dataDir: string;
  logs: Json[];
  /** Sinks by kind: 'tls' (a certificate for mx.sts.test from the CA), 'plain' (no STARTTLS), 'wrong-name'. */
  sinks: Record<'tls' | 'plain' | 'wrong-name', SinkServer>;
  reporter: TlsReporter;
  /** Days the current reporter's store has counts of. */
  days(): string[];
  /** A new reporter over the same data directory (a restart); the old one must be closed first. */
  restart(): TlsReporter;
  /** One message to bob@sts.test through an outbound component whose MX port is that sink's. */
  deliver(sink: 'tls' | 'plain' | 'wrong-name'): Promise<string>;
  metric(name: string, labels: Record<string, string>): Promise<number>;
}

async function startPolicyHost(t: TestContext, tls: { cert: Buffer; key: Buffer }, body: () => string): Promise<number> {
  const sockets = new Set<Socket>();
  const server = https.createServer(tls, (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end(body()));
  server.on('connection', (s: Socket) => void sockets.add(s).size);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as AddressInfo).port;
}

interface WorldOptions {
  /** The TXT record(s) at _smtp._tls.sts.test (none when absent). */
  tlsrpt?: string | string[];
  /** An MTA-STS policy of this mode for sts.test (none when absent). */
  policy?: string;
  /** The sink whose outbound component delivers queued reports ('tls'). */
  reportVia?: 'tls' | 'plain' | 'wrong-name';
  /** The reporter's randomness (the delay after midnight; 0 when absent). */
  random?: () => number;
  /** The policy's mx pattern (mx.sts.test). */
  policyMx?: string;
  /** outbound settings over the test's. */
  outbound?: Json;
}

async function world(t: TestContext, opts: WorldOptions = {}): Promise<World> {
  const ca = makeTestCa(t);
  const clock = new ManualClock(T0);
  const sinks = {
    tls: await startSink({ tls: ca.issue(['mx.sts.test']) }),
    plain: await startSink(),
    'wrong-name': await startSink({ tls: ca.issue(['other.example']) }),
  };
  for (const s of Object.values(sinks)) t.after(() => s.close());
  const policyPort = await startPolicyHost(t, ca.issue(['mta-sts.sts.test']), () => policyText(opts.policy ?? 'testing', opts.policyMx));
  const zones: Zones = {
    'sts.test': [{ MX: [10, 'mx.sts.test'] }],
    'mx.sts.test': [{ A: '127.0.0.1' }],
    'mta-sts.sts.test': [{ A: '127.0.0.1' }],
    'reports.test': [{ MX: [10, 'mx.reports.test'] }],
    'mx.reports.test': [{ A: '127.0.0.1' }],
    ...(opts.policy ? { '_mta-sts.sts.test': [{ TXT: 'v=STSv1; id=1' }] } : {}),
    ...(opts.tlsrpt === undefined ? {} : { '_smtp._tls.sts.test': (Array.isArray(opts.tlsrpt) ? opts.tlsrpt : [opts.tlsrpt]).map((TXT) => ({ TXT })) }),
  };
  const dns = await startDnsServer(zones, { defaultTtl: 0, negativeTtl: 0 });
  t.after(() => dns.close());
  const registry = createRegistry(false);
  const { log, logs } = capturingLogger('debug');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-tlsrpt-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 500, retries: 0 });
  let current: TlsReporter;
  let currentStore: ReturnType<typeof createTlsReportStore>;
  // outbound components by sink (each MX port its own), all counting into the current reporter
  const outbounds = new Map<string, ReturnType<typeof createOutbound>>();
  const outboundFor = (kind: keyof World['sinks']): ReturnType<typeof createOutbound> => {
    let out = outbounds.get(kind);
    if (!out) {
      const config = configSchema.parse({ outbound: { port: sinks[kind].port, connect_timeout: '2s', command_timeout: '5s', mta_sts: { timeout: '2s' }, ...opts.outbound } }).outbound;
      out = createOutbound({ resolver, config, hostname: 'gw.test', log, random: () => 0.5, dataDir: path.join(dataDir, kind), registry, clock, mtaSts: { policyPort, ca: ca.ca }, tlsReports: { record: (e) => current.record(e) } });
      outbounds.set(kind, out);
      t.after(() => out?.close());
    }
    return out;
  };
  // the spool's part in the test: a queued report is delivered at once by the outbound component of the 'tls' sink
  const sink: MessageSink = {
    async enqueue(envelope: QueueEnvelope, message: Buffer) {
      const byDomain = new Map<string, string[]>();
      for (const r of envelope.rcptTo) byDomain.set(domainOf(r), [...(byDomain.get(domainOf(r)) ?? []), r]);
      for (const [domain, rcpts] of byDomain) {
        for (const [r, o] of await outboundFor(opts.reportVia ?? 'tls').deliver(envelope.mailFrom, domain, rcpts, message, envelope)) assert.equal(o.status, 'delivered', `report to ${r}: ${o.reply.text}`);
      }
      return { id: 'q1' };
    },
  };
  const makeReporter = (): TlsReporter => {
    const store = (currentStore = createTlsReportStore({ file: path.join(dataDir, TLS_REPORTS_FILE), clock, log, saveEveryMs: 0 }));
    current = createTlsReporter({
      store,
      settings: { organizationName: 'Gateway Org', contactInfo: 'postmaster@gw.test', submitter: 'gw.test' },
      resolver,
      sink,
      // a stand-in for the DKIM notice signer with a key for gw.test (a report by mail goes signed or not at all)
      sign: async (m) => Buffer.concat([Buffer.from('DKIM-Signature: v=1; a=rsa-sha256; d=gw.test; s=t; bh=x; b=x\r\n'), m]),
      clock,
      log,
      registry,
      random: opts.random ?? (() => 0),
      sweepMs: 0,
      ca: ca.ca,
      httpsTimeoutMs: 3000,
    });
    return current;
  };
  const reporter = makeReporter();
  t.after(() => current.close());
  return {
    ca,
    clock,
    dns,
    registry,
    dataDir,
    logs,
    sinks,
    reporter,
    days: () => currentStore.days(),
    restart: makeReporter,
    async deliver(kind) {
      const r = (await outboundFor(kind).deliver('alice@gw.test', 'sts.test', ['bob@sts.test'], MESSAGE)).get('bob@sts.test');
      return `${r?.status ?? 'none'} ${r?.reply.text ?? ''}`;
    },
    async metric(name, labels) {
      const m = await registry.getSingleMetric(name)?.get();
      return m?.values.find((x) => Object.entries(labels).every(([k, want]) => String(x.labels[k]) === want))?.value ?? 0;
    },
  };
}

/** The report mail at the rua: its header fields and the gunzipped JSON of its attachment. */
async function reportMail(raw: Buffer): Promise<{ headers: Map<string, string>; filename: string; mimeType: string; json: Json; text: string }> {
  const parsed = await PostalMime.parse(raw);
  const headers = new Map(parsed.headers.map((h) => [h.key, h.value]));
  const att = parsed.attachments[0];
  assert.ok(att, 'the report is attached');
  assert.equal(parsed.attachments.length, 1);
  const content = typeof att.content === 'string' ? Buffer.from(att.content, 'base64') : Buffer.from(att.content as ArrayBuffer);
  return { headers, filename: att.filename ?? '', mimeType: att.mimeType, json: JSON.parse(gunzipSync(content).toString('utf8')) as Json, text: raw.toString('latin1') };
}

const policiesOf = (json: Json): Json[] => json.policies as Json[];

test('a good TLS MX and one without STARTTLS: the next day the report reaches the rua mailbox with both sessions', async (t) => {
  const w = await world(t, { tlsrpt: `v=TLSRPTv1; rua=mailto:${RUA}` });
  assert.match(await w.deliver('tls'), /^delivered/);
  assert.match(await w.deliver('plain'), /^delivered/);
  assert.equal(await w.reporter.sendDue(), 0, 'the day has not ended: nothing is sent');
  assert.equal(w.sinks.tls.messages.length, 1);
  w.clock.set(Date.parse('2026-03-11T00:00:00Z'));
  assert.equal(await w.reporter.sendDue(), 1, 'one domain reported');
  const mail = w.sinks.tls.messages.find((m) => m.rcptTo.includes(RUA));
  assert.ok(mail, 'the report arrived at the rua mailbox');
  assert.equal(mail.mailFrom, '', 'from the null reverse path');
  const r = await reportMail(mail.raw);
  assert.equal(r.headers.get('tls-report-domain'), 'sts.test');
  assert.equal(r.headers.get('tls-report-submitter'), 'gw.test');
  assert.match(r.text, /^Content-Type: multipart\/report; report-type="tlsrpt";/m);
  assert.match(r.headers.get('subject') ?? '', /^Report Domain: sts\.test\s+Submitter: gw\.test\s+Report-ID: <[^<>@]+@gw\.test>$/);
  assert.equal(r.mimeType, 'application/tlsrpt+gzip');
  const begin = Date.parse(`${REPORT_DAY}T00:00:00Z`) / 1000;
  assert.equal(r.filename, `gw.test!sts.test!${begin}!${begin + 86399}!${String(r.json['report-id'])}.json.gz`);
  assert.equal(r.json['organization-name'], 'Gateway Org');
  assert.equal(r.json['contact-info'], 'postmaster@gw.test');
  assert.deepEqual(r.json['date-range'], { 'start-datetime': `${REPORT_DAY}T00:00:00Z`, 'end-datetime': `${REPORT_DAY}T23:59:59Z` });
  assert.match(String(r.json['report-id']), /^[0-9a-f-]{36}$/);
  assert.deepEqual(policiesOf(r.json), [
    {
      policy: { 'policy-type': 'no-policy-found', 'policy-domain': 'sts.test' },
      summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 1 },
      'failure-details': [{ 'result-type': 'starttls-not-supported', 'sending-mta-ip': '127.0.0.1', 'receiving-mx-hostname': 'mx.sts.test', 'receiving-ip': '127.0.0.1', 'failed-session-count': 1 }],
    },
  ]);
  assert.equal(await w.metric('spamgate_tls_reports_total', { result: 'sent' }), 1);
  // RFC 8460 §5.3: the report's own delivery is not in the next report; the day's data is gone once sent
  assert.deepEqual(w.days(), [], 'nothing counted after the report went');
});

const NEXT_DAY = Date.parse('2026-03-11T00:00:00Z');

test('MTA-STS testing policy, an MX whose certificate names another host: reported under the sts policy as certificate-host-mismatch', async (t) => {
  const w = await world(t, { tlsrpt: `v=TLSRPTv1;rua=mailto:${RUA}`, policy: 'testing' });
  assert.match(await w.deliver('wrong-name'), /^delivered/, 'testing: delivered as before');
  assert.match(await w.deliver('tls'), /^delivered/);
  w.clock.set(NEXT_DAY);
  await w.reporter.sendDue();
  const mail = w.sinks.tls.messages.find((m) => m.rcptTo.includes(RUA));
  assert.ok(mail, 'the report arrived');
  const r = await reportMail(mail.raw);
  assert.deepEqual(policiesOf(r.json), [
    {
      policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: testing', 'mx: mx.sts.test', 'max_age: 86400'], 'policy-domain': 'sts.test', 'mx-host': ['mx.sts.test'] },
      summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 1 },
      'failure-details': [{ 'result-type': 'certificate-host-mismatch', 'sending-mta-ip': '127.0.0.1', 'receiving-mx-hostname': 'mx.sts.test', 'receiving-ip': '127.0.0.1', 'failed-session-count': 1, 'failure-reason-code': 'ERR_TLS_CERT_ALTNAME_INVALID' }],
    },
  ]);
});

test('MTA-STS enforce: an MX without STARTTLS is a failure in the report; the report itself is delivered despite the policy (RFC 8460 §5.3)', async (t) => {
  // the rua is at the policy domain itself, reached through the MX whose certificate the policy refuses
  const w = await world(t, { tlsrpt: 'v=TLSRPTv1; rua=mailto:tlsrpt@sts.test', policy: 'enforce', reportVia: 'wrong-name' });
  assert.match(await w.deliver('plain'), /^temp .*STARTTLS required but not offered/);
  assert.match(await w.deliver('wrong-name'), /^temp .*certificate not valid/);
  w.clock.set(NEXT_DAY);
  assert.equal(await w.reporter.sendDue(), 1);
  const mail = w.sinks['wrong-name'].messages.find((m) => m.rcptTo.includes('tlsrpt@sts.test'));
  assert.ok(mail, 'the report went to the MX the enforce policy refuses');
  const r = await reportMail(mail.raw);
  const [p] = policiesOf(r.json);
  assert.deepEqual(p?.summary, { 'total-successful-session-count': 0, 'total-failure-session-count': 2 });
  assert.deepEqual(p?.['failure-details'], [
    { 'result-type': 'starttls-not-supported', 'sending-mta-ip': '127.0.0.1', 'receiving-mx-hostname': 'mx.sts.test', 'receiving-ip': '127.0.0.1', 'failed-session-count': 1 },
    { 'result-type': 'certificate-host-mismatch', 'sending-mta-ip': '127.0.0.1', 'receiving-mx-hostname': 'mx.sts.test', 'receiving-ip': '127.0.0.1', 'failed-session-count': 1, 'failure-reason-code': 'ERR_TLS_CERT_ALTNAME_INVALID' },
  ]);
  assert.deepEqual(w.days(), [], 'the report delivery was not counted');
});

interface ReportServer {
  port: number;
  posts: Array<{ path: string; type: string; body: Buffer }>;
  status: number;
}

async function startReportServer(t: TestContext, tls: { cert: Buffer; key: Buffer }): Promise<ReportServer> {
  const sockets = new Set<Socket>();
  const state: ReportServer = { port: 0, posts: [], status: 201 };
  const server = https.createServer(tls, (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.posts.push({ path: `${req.method ?? ''} ${req.url ?? ''}`, type: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
      res.writeHead(state.status).end();
    });
  });
  server.on('connection', (s: Socket) => void sockets.add(s).size);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  state.port = (server.address() as AddressInfo).port;
  return state;
}

test('an https rua: the gzipped report is POSTed as application/tlsrpt+gzip to a server with a verified certificate', async (t) => {
  const w = await world(t);
  const server = await startReportServer(t, w.ca.issue(['tlsrpt.reports.test']));
  w.dns.set('tlsrpt.reports.test', [{ A: '127.0.0.1' }]);
  w.dns.set('_smtp._tls.sts.test', [{ TXT: `v=TLSRPTv1; rua=https://tlsrpt.reports.test:${server.port}/v1/tlsrpt` }]);
  assert.match(await w.deliver('tls'), /^delivered/);
  w.clock.set(NEXT_DAY);
  await w.reporter.sendDue();
  assert.equal(server.posts.length, 1);
  const post = server.posts[0];
  assert.equal(post?.path, 'POST /v1/tlsrpt');
  assert.equal(post?.type, 'application/tlsrpt+gzip');
  const json = JSON.parse(gunzipSync(post?.body ?? Buffer.alloc(0)).toString('utf8')) as Json;
  assert.deepEqual(policiesOf(json), [{ policy: { 'policy-type': 'no-policy-found', 'policy-domain': 'sts.test' }, summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 0 } }]);
  assert.equal(await w.metric('spamgate_tls_reports_total', { result: 'sent' }), 1);
  assert.equal(w.sinks.tls.messages.length, 1, 'no mail besides the delivered message');
});

test('an https rua that answers 500, or whose certificate is not trusted: failed for now, the report kept to be retried', async (t) => {
  const w = await world(t);
  const refusing = await startReportServer(t, w.ca.issue(['a.reports.test']));
  refusing.status = 500;
  const untrusted = await startReportServer(t, makeTestCa(t).issue(['b.reports.test']));
  w.dns.set('a.reports.test', [{ A: '127.0.0.1' }]);
  w.dns.set('b.reports.test', [{ A: '127.0.0.1' }]);
  w.dns.set('_smtp._tls.sts.test', [{ TXT: `v=TLSRPTv1; rua=https://a.reports.test:${refusing.port}/r,https://b.reports.test:${untrusted.port}/r` }]);
  assert.match(await w.deliver('tls'), /^delivered/);
  w.clock.set(NEXT_DAY);
  await w.reporter.sendDue();
  assert.equal(refusing.posts.length, 1, 'the refusing server got the POST');
  assert.equal(untrusted.posts.length, 0, 'nothing sent to a server whose certificate is not trusted');
  assert.equal(await w.metric('spamgate_tls_reports_total', { result: 'retry' }), 1);
  assert.equal(await w.metric('spamgate_tls_reports_total', { result: 'failed' }), 0);
  assert.equal(await w.metric('spamgate_tls_reports_total', { result: 'sent' }), 0);
  assert.deepEqual(w.days(), ['2026-03-10'], 'the day is kept for the retry');
});

for (const [what, records] of [
  ['no TLSRPT record', undefined],
  ['a record with no rua', ['v=TLSRPTv1; foo=bar']],
  ['a record whose rua is not mailto: or https:', ['v=TLSRPTv1; rua=http://reports.test/r']],
  ['a record that does not start with the version', [`rua=mailto:${RUA}; v=TLSRPTv1`]],
  ['a malformed mailto: URI', ['v=TLSRPTv1; rua=mailto:not an address']],
  ['two TLSRPT records', [`v=TLSRPTv1; rua=mailto:${RUA}`, 'v=TLSRPTv1; rua=mailto:other@reports.test']],
] as const) {
  test(`${what}: no report, counted as no_policy_record, the day's counts dropped`, async (t) => {
    const w = await world(t, records ? { tlsrpt: [...records] } : {});
    assert.match(await w.deliver('tls'), /^delivered/);
    w.clock.set(NEXT_DAY);
    assert.equal(await w.reporter.sendDue(), 1);
    assert.equal(w.sinks.tls.messages.length, 1, 'only the delivered message, no report');
    assert.equal(await w.metric('spamgate_tls_reports_total', { result: 'no_policy_record' }), 1);
    assert.equal(await w.metric('spamgate_tls_reports_total', { result: 'sent' }), 0);
    assert.deepEqual(w.days(), []);
  });
}

test("the day's counts survive a restart (saved 0600 in the data directory) and go into the report", async (t) => {
  const w = await world(t, { tlsrpt: `v=TLSRPTv1; rua=mailto:${RUA}` });
  assert.match(await w.deliver('plain'), /^delivered/);
  await w.reporter.close();
  const file = path.join(w.dataDir, TLS_REPORTS_FILE);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const again = w.restart();
  assert.match(await w.deliver('tls'), /^delivered/);
  w.clock.set(NEXT_DAY);
  await again.sendDue();
  const mail = w.sinks.tls.messages.find((m) => m.rcptTo.includes(RUA));
  assert.ok(mail);
  const [p] = policiesOf((await reportMail(mail.raw)).json);
  assert.deepEqual(p?.summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 1 }, 'the session before the restart is in it');
});

test('reports wait for the random delay after midnight, and are sent once', async (t) => {
  // random 0.5 of at most four hours: two hours after midnight
  const w = await world(t, { tlsrpt: `v=TLSRPTv1; rua=mailto:${RUA}`, random: () => 0.5 });
  assert.match(await w.deliver('tls'), /^delivered/);
  w.clock.set(NEXT_DAY + 2 * 3600_000 - 1);
  assert.equal(await w.reporter.sendDue(), 0, 'not yet');
  w.clock.set(NEXT_DAY + 2 * 3600_000);
  assert.equal(await w.reporter.sendDue(), 1);
  assert.equal(await w.reporter.sendDue(), 0, 'not twice');
  assert.equal(w.sinks.tls.messages.filter((m) => m.rcptTo.includes(RUA)).length, 1);
});

test('an MTA-STS policy that does not parse: reported as sts-policy-invalid, the delivery made without it as no-policy-found', async (t) => {
  const w = await world(t, { tlsrpt: `v=TLSRPTv1; rua=mailto:${RUA}`, policy: 'sometimes' });
  assert.match(await w.deliver('tls'), /^delivered/);
  w.clock.set(NEXT_DAY);
  await w.reporter.sendDue();
  const mail = w.sinks.tls.messages.find((m) => m.rcptTo.includes(RUA));
  assert.ok(mail);
  assert.deepEqual(policiesOf((await reportMail(mail.raw)).json), [
    {
      policy: { 'policy-type': 'sts', 'policy-string': [], 'policy-domain': 'sts.test', 'mx-host': [] },
      summary: { 'total-successful-session-count': 0, 'total-failure-session-count': 1 },
      'failure-details': [{ 'result-type': 'sts-policy-invalid', 'failed-session-count': 1, 'failure-reason-code': 'invalid_policy' }],
    },
    { policy: { 'policy-type': 'no-policy-found', 'policy-domain': 'sts.test' }, summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 0 } },
  ]);
});

test('MTA-STS testing policy, an MX outside its mx patterns: each session there is a validation-failure', async (t) => {
  const w = await world(t, { tlsrpt: `v=TLSRPTv1; rua=mailto:${RUA}`, policy: 'testing', policyMx: '*.elsewhere.test' });
  assert.match(await w.deliver('tls'), /^delivered/, 'testing: delivered as before');
  w.clock.set(NEXT_DAY);
  await w.reporter.sendDue();
  const mail = w.sinks.tls.messages.find((m) => m.rcptTo.includes(RUA));
  assert.ok(mail);
  const [p] = policiesOf((await reportMail(mail.raw)).json);
  assert.deepEqual((p?.policy as Json)['mx-host'], ['*.elsewhere.test']);
  assert.deepEqual(p?.summary, { 'total-successful-session-count': 0, 'total-failure-session-count': 1 });
  assert.deepEqual(p?.['failure-details'], [{ 'result-type': 'validation-failure', 'sending-mta-ip': '127.0.0.1', 'receiving-mx-hostname': 'mx.sts.test', 'receiving-ip': '127.0.0.1', 'failed-session-count': 1 }]);
});

test('with starttls: require and tls_verify, a report still goes to an MX without STARTTLS (RFC 8460 §5.3); other mail does not', async (t) => {
  const w = await world(t, { tlsrpt: 'v=TLSRPTv1; rua=mailto:tlsrpt@sts.test', reportVia: 'plain', outbound: { starttls: 'require', tls_verify: true } });
  assert.match(await w.deliver('plain'), /^temp .*STARTTLS required but not offered/);
  w.clock.set(NEXT_DAY);
  assert.equal(await w.reporter.sendDue(), 1);
  const mail = w.sinks.plain.messages.find((m) => m.rcptTo.includes('tlsrpt@sts.test'));
  assert.ok(mail, 'the report was delivered in clear');
  const [p] = policiesOf((await reportMail(mail.raw)).json);
  assert.deepEqual(p?.summary, { 'total-successful-session-count': 0, 'total-failure-session-count': 1 });
  assert.match(await w.deliver('plain'), /^temp .*STARTTLS required but not offered/, 'other mail is still held to starttls: require');
  assert.equal(w.sinks.plain.messages.length, 1);
});

test('closing the reporter (shutdown) does not wait out an https rua that does not answer', async (t) => {
  const ca = makeTestCa(t);
  const sockets = new Set<Socket>();
  let posted!: () => void;
  const gotPost = new Promise<void>((r) => (posted = r));
  // takes the POST and never answers
  const server = https.createServer(ca.issue(['rua.test']), () => posted());
  server.on('connection', (s: Socket) => void sockets.add(s).size);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;
  const clock = new ManualClock(T0);
  const log = createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }));
  const store = createTlsReportStore({ clock, log, saveEveryMs: 0 });
  store.record({ domain: 'sts.test', policy: { type: 'no-policy-found' }, at: T0, ok: true });
  const resolver = {
    lookup: async (name: string, type: string) =>
      name === '_smtp._tls.sts.test' && type === 'TXT'
        ? { status: 'ok' as const, records: [`v=TLSRPTv1; rua=https://rua.test:${port}/r`], ttl: 60 }
        : name === 'rua.test' && type === 'A'
          ? { status: 'ok' as const, records: ['127.0.0.1'], ttl: 60 }
          : { status: 'nxdomain' as const, ttl: 60 },
  } as unknown as Resolver;
  const sink: MessageSink = { enqueue: async () => ({ id: 'q' }) };
  const reporter = createTlsReporter({ store, settings: { organizationName: 'O', contactInfo: 'c', submitter: 'gw.test' }, resolver, sink, clock, log, random: () => 0, sweepMs: 0, ca: ca.ca, httpsTimeoutMs: 20_000 });
  clock.set(T0 + 86_400_000);
  const sending = reporter.sendDue();
  await gotPost;
  const started = Date.now();
  await reporter.close();
  assert.ok(Date.now() - started < 5000, `close took ${Date.now() - started} ms`);
  await sending;
  assert.equal(store.domainsOf('2026-03-10').size, 1, 'the report cut short is kept for the next start');
});
