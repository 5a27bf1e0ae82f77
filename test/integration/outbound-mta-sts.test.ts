// MTA-STS (RFC 8461) in outbound MX delivery over real sockets: a dns2 server with the `_mta-sts` TXT record
// and the MX, an HTTPS policy host whose certificate comes from a throwaway CA, and sink SMTP servers with
// and without STARTTLS. The CA and the policy host's port reach outbound as injected options.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { createOutbound, MTA_STS_CACHE_FILE, type OutboundOptions } from '../../src/mailhost/outbound.ts';
import { createRegistry, type Registry } from '../../src/metrics/registry.ts';
import { createMtaSts, type MtaSts } from '../../src/mailhost/mta-sts.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { createLogger } from '../../src/util/logger.ts';
import { startDnsServer, type Zones } from '../helpers/dns-server.ts';
import { startScriptedSmtp } from '../helpers/scripted-smtp.ts';
import { startGateway } from '../helpers/gateway.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { makeTestCa, type TestCa } from '../helpers/test-ca.ts';
import { capturingLogger } from '../helpers/capture-logs.ts';

type Json = Record<string, unknown>;
const DOMAIN = 'sts.test';
const RCPT = 'bob@sts.test';
const MESSAGE = Buffer.from('From: alice@gw.test\r\nTo: bob@sts.test\r\nSubject: sts\r\n\r\nhello\r\n');

const policyText = (mode: string, mx: string[] = ['mx.sts.test'], maxAge = 86400): string =>
  `version: STSv1\r\nmode: ${mode}\r\n${mx.map((m) => `mx: ${m}\r\n`).join('')}max_age: ${maxAge}\r\n`;

interface PolicyHost {
  readonly port: number;
  requests: number;
  body: string;
  /** Replaces the normal answer (a redirect, a huge or a slow body). */
  handler?: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

async function startPolicyHost(t: TestContext, tlsFiles: { cert: Buffer; key: Buffer }, body: string): Promise<PolicyHost> {
  const sockets = new Set<Socket>();
  const server = https.createServer({ ...tlsFiles }, (req, res) => {
    host.requests++;
    if (host.handler) return host.handler(req, res);
    if (req.url !== '/.well-known/mta-sts.txt' || req.headers.host !== 'mta-sts.sts.test') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(host.body);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed = false;
  const host: PolicyHost = {
    port: (server.address() as AddressInfo).port,
    requests: 0,
    body,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  t.after(() => host.close());
  return host;
}

type SinkTls = 'valid' | 'none' | 'wrong-name' | 'cn-only' | 'self-signed';

function sinkCert(t: TestContext, ca: TestCa, kind: SinkTls): { cert: Buffer; key: Buffer } | undefined {
  if (kind === 'none') return undefined;
  if (kind === 'valid') return ca.issue(['mx.sts.test']);
  if (kind === 'wrong-name') return ca.issue(['other.example']);
  if (kind === 'cn-only') return ca.issue(['mx.sts.test'], { cnOnly: true });
  const files = selfSignedCert(t, 'mx.sts.test');
  return { cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

interface World {
  ca: TestCa;
  host: PolicyHost;
  sink: SinkServer;
  dns: Awaited<ReturnType<typeof startDnsServer>>;
  registry: Registry;
  logs: Json[];
  dataDir: string;
  /** A new outbound component over the same data directory (a restart). */
  make(extra?: Partial<OutboundOptions>): ReturnType<typeof createOutbound>;
  deliver(out?: ReturnType<typeof createOutbound>): Promise<{ status: string; code: number; text: string }>;
  metric(name: string, labels: Record<string, string>): Promise<number>;
}

async function world(t: TestContext, opts: { sinkTls?: SinkTls; policy?: string; txtId?: string; mtaSts?: Json; mxPort?: number } = {}): Promise<World> {
  const ca = makeTestCa(t);
  const host = await startPolicyHost(t, ca.issue(['mta-sts.sts.test']), opts.policy ?? policyText('enforce'));
  const tlsFiles = sinkCert(t, ca, opts.sinkTls ?? 'valid');
  const sink = await startSink(tlsFiles ? { tls: tlsFiles } : {});
  t.after(() => sink.close());
  const zones: Zones = {
    [DOMAIN]: [{ MX: [10, 'mx.sts.test'] }],
    'mx.sts.test': [{ A: '127.0.0.1' }],
    'evil.sts.test': [{ A: '127.0.0.1' }],
    '_mta-sts.sts.test': [{ TXT: `v=STSv1; id=${opts.txtId ?? '1'}` }],
    'mta-sts.sts.test': [{ A: '127.0.0.1' }],
  };
  // TTL 0: every look-up reaches the server, so a changed zone is seen at once
  const dns = await startDnsServer(zones, { defaultTtl: 0, negativeTtl: 0 });
  t.after(() => dns.close());
  const registry = createRegistry(false);
  const { log, logs } = capturingLogger('debug');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-sts-'));
  const config = configSchema.parse({ outbound: { port: opts.mxPort ?? sink.port, connect_timeout: '2s', command_timeout: '5s', mta_sts: { timeout: '2s', ...opts.mtaSts } } }).outbound;
  const make = (extra: Partial<OutboundOptions> = {}): ReturnType<typeof createOutbound> => {
    const resolver = createResolver({ servers: [dns.server], timeoutMs: 500, retries: 0 });
    const out = createOutbound({ resolver, config, hostname: 'gw.test', log, random: () => 0.5, dataDir, registry, mtaSts: { policyPort: host.port, ca: ca.ca }, ...extra });
    t.after(() => out.close());
    return out;
  };
  const first = make();
  return {
    ca,
    host,
    sink,
    dns,
    registry,
    logs,
    dataDir,
    make,
    async deliver(out = first) {
      const r = (await out.deliver('alice@gw.test', DOMAIN, [RCPT], MESSAGE)).get(RCPT);
      assert.ok(r, 'an outcome for the recipient');
      return { status: r.status, code: r.reply.code, text: `${r.reply.enhanced ?? ''} ${r.reply.text}` };
    },
    async metric(name, labels) {
      const m = await registry.getSingleMetric(name)?.get();
      const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => String(x.labels[k]) === want));
      return v?.value ?? 0;
    },
  };
}

test('enforce, the MX matches and its certificate is valid: delivered over verified TLS', async (t) => {
  const w = await world(t);
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(w.sink.messages.length, 1);
  assert.equal(w.sink.messages[0]?.secure, true, 'over TLS');
  assert.equal(w.host.requests, 1, 'the policy was fetched once');
  assert.equal(await w.metric('spamgate_mta_sts_policy_total', { result: 'fetched' }), 1);
  assert.equal(await w.metric('spamgate_mta_sts_mx_checks_total', { mode: 'enforce', result: 'ok' }), 1);
  // a second message: the cached policy (same id), no new fetch
  assert.equal((await w.deliver()).status, 'delivered');
  assert.equal(w.host.requests, 1);
  assert.equal(await w.metric('spamgate_mta_sts_policy_total', { result: 'cached' }), 1);
});

test('enforce, the MX does not match the policy: deferred with 4.7.5, the host is never contacted', async (t) => {
  const w = await world(t, { policy: policyText('enforce', ['mx1.elsewhere.example', '*.other.test']) });
  const r = await w.deliver();
  assert.equal(r.status, 'temp', 'a temporary failure: the message stays queued');
  assert.equal(r.code, 451);
  assert.match(r.text, /^4\.7\.5 MTA-STS policy of sts\.test \(enforce\): MX host mx\.sts\.test does not match/);
  assert.equal(w.sink.connectionCount, 0, 'no connection to a host outside the policy');
  assert.equal(w.sink.messages.length, 0);
  assert.equal(await w.metric('spamgate_mta_sts_mx_checks_total', { mode: 'enforce', result: 'mx_mismatch' }), 1);
  assert.ok(w.logs.some((l) => l.msg === 'MTA-STS: MX host refused by the policy, not used' && l.host === 'mx.sts.test'));
});

for (const [kind, why, result] of [
  ['none', /STARTTLS required but not offered/, 'starttls'],
  ['wrong-name', /certificate not valid for mx\.sts\.test/, 'certificate'],
  ['cn-only', /certificate not valid for mx\.sts\.test/, 'certificate'],
  ['self-signed', /certificate not valid for mx\.sts\.test/, 'certificate'],
] as const) {
  test(`enforce, the MX ${kind === 'none' ? 'offers no STARTTLS' : `has a ${kind} certificate`}: deferred, nothing sent in clear`, async (t) => {
    const w = await world(t, { sinkTls: kind });
    const r = await w.deliver();
    assert.equal(r.status, 'temp', r.text);
    assert.match(r.text, /^4\.7\.5 MTA-STS policy of sts\.test \(enforce\): mx\.sts\.test \[127\.0\.0\.1\]: /);
    assert.match(r.text, why);
    assert.equal(w.sink.messages.length, 0, 'no message, in clear or otherwise');
    assert.equal(w.sink.connectionCount, 1, 'one try, no second connection in clear');
    assert.equal(await w.metric('spamgate_mta_sts_mx_checks_total', { mode: 'enforce', result }), 1);
  });
}

test('testing mode: delivered as before, what enforce would refuse is logged and counted', async (t) => {
  const w = await world(t, { sinkTls: 'none', policy: policyText('testing', ['mx.elsewhere.example']) });
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(w.sink.messages[0]?.secure, false, 'in clear, as without a policy');
  assert.equal(await w.metric('spamgate_mta_sts_mx_checks_total', { mode: 'testing', result: 'mx_mismatch' }), 1);
  assert.equal(await w.metric('spamgate_mta_sts_mx_checks_total', { mode: 'testing', result: 'starttls' }), 1);
  const warned = w.logs.filter((l) => l.msg === 'MTA-STS testing: this delivery would fail under enforce');
  assert.deepEqual(warned.map((l) => l.result), ['mx_mismatch', 'starttls']);
});

test('testing mode with a certificate that would fail: delivered over TLS, counted as a certificate failure', async (t) => {
  const w = await world(t, { sinkTls: 'wrong-name', policy: policyText('testing') });
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(w.sink.messages[0]?.secure, true);
  assert.equal(await w.metric('spamgate_mta_sts_mx_checks_total', { mode: 'testing', result: 'certificate' }), 1);
});

test('testing mode with an MX whose TLS handshake fails: delivered in clear as before, counted and logged as a TLS failure (not as no STARTTLS)', async (t) => {
  // offers STARTTLS, answers 220 to it and then speaks no TLS; a plain session (no STARTTLS) takes the message
  const state = new WeakMap<object, 'data' | 'tls'>();
  let delivered = 0;
  const mx = await startScriptedSmtp('220 mx.sts.test ESMTP', (line, sock) => {
    if (state.get(sock) === 'tls') return;
    if (state.get(sock) === 'data') {
      if (line === '.') {
        state.delete(sock);
        delivered++;
        sock.write('250 2.0.0 queued\r\n');
      }
      return;
    }
    const verb = line.slice(0, 4).toUpperCase();
    if (verb === 'EHLO') sock.write('250-mx.sts.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n');
    else if (verb === 'STAR') {
      state.set(sock, 'tls');
      sock.write('220 2.0.0 go ahead\r\n');
      // the client's hello is answered with text
      sock.once('data', () => sock.write('this is not a TLS server hello\r\n'));
    } else if (verb === 'DATA') {
      state.set(sock, 'data');
      sock.write('354 go on\r\n');
    } else if (verb === 'QUIT') sock.end('221 bye\r\n');
    else sock.write('250 2.0.0 ok\r\n');
  });
  t.after(() => mx.close());
  const w = await world(t, { policy: policyText('testing'), mxPort: mx.port });
  const r = await w.deliver();
  assert.equal(r.status, 'delivered', r.text);
  assert.equal(delivered, 1);
  assert.equal(await w.metric('spamgate_mta_sts_mx_checks_total', { mode: 'testing', result: 'tls' }), 1);
  assert.equal(await w.metric('spamgate_mta_sts_mx_checks_total', { mode: 'testing', result: 'starttls' }), 0);
  const warned = w.logs.filter((l) => l.msg === 'MTA-STS testing: this delivery would fail under enforce');
  assert.deepEqual(warned.map((l) => l.result), ['tls']);
  assert.match(String(warned[0]?.detail), /TLS handshake failed/);
});

test('a pooled connection opened without a policy is not reused for a domain whose policy enforces TLS', async (t) => {
  const w = await world(t, { sinkTls: 'none' });
  w.dns.set('plain.test', [{ MX: [10, 'mx.sts.test'] }]);
  const out = w.make();
  const plain = (await out.deliver('alice@gw.test', 'plain.test', ['carol@plain.test'], MESSAGE)).get('carol@plain.test');
  assert.equal(plain?.status, 'delivered', 'no policy: in clear, as before');
  assert.equal(out.poolSize('mx.sts.test|127.0.0.1:' + w.sink.port), 1, 'the clear connection waits in the pool');
  const r = await w.deliver(out);
  assert.equal(r.status, 'temp', r.text);
  assert.match(r.text, /STARTTLS required but not offered/);
  assert.equal(w.sink.messages.length, 1, 'only the message without a policy went out');
});

test('a cached enforce policy keeps applying when the policy host is gone and DNS fails or changes', async (t) => {
  const w = await world(t);
  assert.equal((await w.deliver()).status, 'delivered');
  await w.host.close();
  // an attacker points the MX elsewhere and strips what it can of MTA-STS
  w.dns.set(DOMAIN, [{ MX: [10, 'evil.sts.test'] }]);
  for (const txt of ['SERVFAIL', 'deleted', 'new id'] as const) {
    if (txt === 'SERVFAIL') w.dns.set('_mta-sts.sts.test', 'SERVFAIL');
    else if (txt === 'deleted') w.dns.delete('_mta-sts.sts.test');
    else w.dns.set('_mta-sts.sts.test', [{ TXT: 'v=STSv1; id=2' }]); // a fetch that fails: the cached policy holds
    const r = await w.deliver();
    assert.equal(r.status, 'temp', `${txt}: ${r.text}`);
    assert.match(r.text, /MTA-STS policy of sts\.test \(enforce\): MX host evil\.sts\.test does not match/, txt);
  }
  assert.equal(w.sink.messages.length, 1, 'only the first message went out');
  assert.equal(await w.metric('spamgate_mta_sts_policy_total', { result: 'cached_fallback' }), 3);
  assert.equal(await w.metric('spamgate_mta_sts_fetch_failures_total', { reason: 'connect' }), 1);
});

test('a new TXT id makes the policy be fetched again; a changed file under the same id does not', async (t) => {
  const w = await world(t);
  assert.equal((await w.deliver()).status, 'delivered');
  w.host.body = policyText('enforce', ['mx.elsewhere.example']);
  assert.equal((await w.deliver()).status, 'delivered', 'same id: the cached policy');
  assert.equal(w.host.requests, 1);
  w.dns.set('_mta-sts.sts.test', [{ TXT: 'v=STSv1; id=20261206' }]);
  const r = await w.deliver();
  assert.equal(w.host.requests, 2, 'fetched again for the new id');
  assert.equal(r.status, 'temp', 'the new policy applies');
  assert.match(r.text, /MX host mx\.sts\.test does not match/);
  // and a policy that says none withdraws enforcement
  w.host.body = policyText('none', []);
  w.dns.set('_mta-sts.sts.test', [{ TXT: 'v=STSv1; id=3' }]);
  assert.equal((await w.deliver()).status, 'delivered');
  assert.equal(w.host.requests, 3);
});

for (const [what, failure, setUp] of [
  ['a corrupt policy file', 'invalid_policy', (h: PolicyHost) => void (h.body = '\u0000\u00ff garbage\r\nmode: enforce\r\n')],
  ['a 10 MiB policy file', 'too_large', (h: PolicyHost) => void (h.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(Buffer.alloc(10 * 1024 * 1024, 'mx: a.test\r\n'));
  })],
  ['a policy file announced as huge', 'too_large', (h: PolicyHost) => void (h.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(1024 * 1024) });
    res.write('version: STSv1\r\n');
  })],
  ['a policy host that never answers', 'timeout', (h: PolicyHost) => void (h.handler = () => undefined)],
  ['a policy served as HTML', 'content_type', (h: PolicyHost) => void (h.handler = (_req, res) => void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(policyText('enforce', ['mx.elsewhere.example'])))],
  ['a policy served with no Content-Type', 'content_type', (h: PolicyHost) => void (h.handler = (_req, res) => void res.writeHead(200).end(policyText('enforce', ['mx.elsewhere.example'])))],
  ['a redirect', 'http_status', (h: PolicyHost) => void (h.handler = (_req, res) => void res.writeHead(301, { location: 'https://mta-sts.sts.test/other.txt' }).end())],
] as const) {
  test(`${what}: no policy (failure ${failure} counted), delivered as without MTA-STS`, async (t) => {
    const w = await world(t, { mtaSts: { timeout: '1s' } });
    setUp(w.host);
    const r = await w.deliver();
    assert.equal(r.status, 'delivered', r.text);
    assert.equal(await w.metric('spamgate_mta_sts_fetch_failures_total', { reason: failure }), 1);
    assert.equal(await w.metric('spamgate_mta_sts_policy_total', { result: 'fetch_failed' }), 1);
    assert.equal(w.host.requests, 1, 'one request, no redirect followed');
    assert.ok(w.logs.some((l) => l.msg === 'MTA-STS policy fetch failed' && l.domain === DOMAIN));
  });
}

test('a policy host whose certificate is not valid for mta-sts.<domain>: no policy', async (t) => {
  const w = await world(t, { policy: policyText('enforce', ['mx.elsewhere.example']) });
  await w.host.close();
  const wrong = await startPolicyHost(t, w.ca.issue(['www.sts.test']), policyText('enforce', ['mx.elsewhere.example']));
  const out = w.make({ mtaSts: { policyPort: wrong.port, ca: w.ca.ca } });
  const r = await w.deliver(out);
  assert.equal(r.status, 'delivered', 'the unauthenticated policy is not applied');
  assert.equal(await w.metric('spamgate_mta_sts_fetch_failures_total', { reason: 'certificate' }), 1);
});

test('the policy cache is persisted (0600) and survives a restart; a corrupt file is logged and starts empty', async (t) => {
  const w = await world(t);
  const first = w.make();
  assert.equal((await w.deliver(first)).status, 'delivered');
  await first.close();
  const file = path.join(w.dataDir, MTA_STS_CACHE_FILE);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { policies: Record<string, { mode: string; id: string }> };
  assert.deepEqual([saved.policies[DOMAIN]?.mode, saved.policies[DOMAIN]?.id], ['enforce', '1']);
  // restarted while the policy host is gone, the TXT record stripped and the MX changed
  await w.host.close();
  w.dns.delete('_mta-sts.sts.test');
  w.dns.set(DOMAIN, [{ MX: [10, 'evil.sts.test'] }]);
  const restarted = w.make();
  const r = await w.deliver(restarted);
  assert.equal(r.status, 'temp', r.text);
  assert.match(r.text, /MTA-STS policy of sts\.test \(enforce\)/);
  assert.equal(w.sink.messages.length, 1);
  await restarted.close();
  writeFileSync(file, '{"version":1,"policies":');
  const afterCorruption = w.make();
  assert.equal((await w.deliver(afterCorruption)).status, 'delivered', 'no policy remembered');
  assert.ok(w.logs.some((l) => l.msg === 'MTA-STS policy cache corrupt: starting empty'));
});

// two years (8 digits, as many as the maximum itself), a year and a second, and a 9-digit value
for (const maxAge of [63_072_000, 31_557_601, 999_999_999]) {
  test(`a max_age over a year (${maxAge}) is taken as a year (RFC 8461 §3.2 maximum), not as an invalid policy`, async (t) => {
    const w = await world(t, { policy: policyText('enforce', ['mx.sts.test'], maxAge) });
    const out = w.make();
    assert.equal((await w.deliver(out)).status, 'delivered');
    await out.close();
    const saved = JSON.parse(readFileSync(path.join(w.dataDir, MTA_STS_CACHE_FILE), 'utf8')) as { policies: Record<string, { maxAge: number; mode: string }> };
    assert.deepEqual([saved.policies[DOMAIN]?.mode, saved.policies[DOMAIN]?.maxAge], ['enforce', 31_557_600]);
  });
}

test('mta_sts.enabled: false: no TXT look-up, delivery as before', async (t) => {
  const w = await world(t, { policy: policyText('enforce', ['mx.elsewhere.example']), mtaSts: { enabled: false } });
  assert.equal((await w.deliver()).status, 'delivered');
  assert.equal(w.dns.count('_mta-sts.sts.test', 'TXT'), 0);
  assert.equal(w.host.requests, 0);
});

test('the running app looks policies up through its own resolver and delivers when none can be fetched', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const zones: Zones = {
    'remote.example': [{ MX: [10, 'mx.remote.example'] }],
    'mx.remote.example': [{ A: '127.0.0.1' }],
    // names only the test DNS server knows: a policy id, and a policy host with no HTTPS server on port 443
    '_mta-sts.remote.example': [{ TXT: 'v=STSv1; id=gw1' }],
    'mta-sts.remote.example': [{ A: '127.0.0.1' }],
  };
  const gw = await startGateway(t, { outbound: { port: sink.port, mta_sts: { timeout: '2s' } }, queue: { retry_initial: '200ms', scan_interval: '100ms' } }, { zones });
  const r = await sendMessage(gw.smtpPort, 'boss@localhost', ['bob@remote.example'], 'Subject: sts\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await sink.waitForMessages(1, 20_000);
  const failed = gw.logs.find((l) => l.msg === 'MTA-STS policy fetch failed');
  assert.equal(failed?.domain, 'remote.example', 'the TXT record was found through spamgate\'s resolver');
  assert.equal(failed?.id, 'gw1');
});

test('the background refresh keeps the policies of domains mail went to fresh past their max_age, and stops 30 days after the last use', async (t) => {
  const day = 24 * 3600 * 1000;
  const w = await world(t, { policy: policyText('enforce', ['mx.sts.test'], 2 * 86400) });
  const clock = new ManualClock(Date.now());
  const file = path.join(w.dataDir, 'refresh-policies.json');
  const make = (refreshSweepMs = 0): MtaSts => {
    const sts = createMtaSts({ resolver: createResolver({ servers: [w.dns.server], timeoutMs: 500, retries: 0 }), family: 'any', timeoutMs: 2000, cacheSize: 100, file, clock, log: createLogger('error'), registry: w.registry, policyPort: w.host.port, ca: w.ca.ca, refreshSweepMs });
    t.after(() => sts.close());
    return sts;
  };
  const sts = make();
  assert.equal((await sts.policyFor(DOMAIN))?.mode, 'enforce', 'a delivery looks the policy up');
  assert.equal(await sts.refreshDue(), 0, 'fetched just now: nothing due');
  assert.equal(w.host.requests, 1);
  // a day later the policy host serves a new MX list under the same id: the refresh fetches it without a delivery
  w.host.body = policyText('enforce', ['mx2.sts.test'], 2 * 86400);
  clock.advance(day + 1000);
  assert.equal(await sts.refreshDue(), 1);
  assert.equal(w.host.requests, 2);
  assert.deepEqual(sts.cache.get(DOMAIN)?.mx, ['mx2.sts.test']);
  assert.equal(await w.metric('spamgate_mta_sts_refresh_total', { result: 'fetched' }), 1);
  assert.equal(await w.metric('spamgate_mta_sts_policy_total', { result: 'fetched' }), 1, 'refreshes are not counted as delivery look-ups');
  // a restart keeps the time of the last use: the refresh goes on
  await sts.close();
  const restarted = make();
  // ten days without mail to the domain: the two-day policy is still there, refreshed once a day
  for (let i = 0; i < 10; i++) {
    clock.advance(day + 1000);
    assert.equal(await restarted.refreshDue(), 1, `day ${i + 2}`);
  }
  assert.equal(w.host.requests, 12);
  assert.equal(restarted.cache.get(DOMAIN)?.mode, 'enforce', 'alive ten days after the last use, with a max_age of two');
  // a refresh that fails keeps the cached policy, counted
  const servedBody = w.host.body;
  w.host.handler = (_req, res) => void res.writeHead(500).end();
  clock.advance(day + 1000);
  assert.equal(await restarted.refreshDue(), 1);
  assert.equal(await w.metric('spamgate_mta_sts_refresh_total', { result: 'cached_fallback' }), 1);
  assert.equal(restarted.cache.get(DOMAIN)?.mode, 'enforce');
  delete w.host.handler;
  w.host.body = servedBody;
  // a failed refresh is tried again 6 hours later (not at the next hourly sweep: others get their turn)
  clock.advance(3600 * 1000);
  assert.equal(await restarted.refreshDue(), 0);
  clock.advance(5 * 3600 * 1000);
  assert.equal(await restarted.refreshDue(), 1);
  assert.equal(await w.metric('spamgate_mta_sts_refresh_total', { result: 'fetched' }), 12);
  // past 30 days after the last use, no more refreshes: the policy lives out its max_age and goes
  let fetched = w.host.requests;
  for (let i = 0; i < 25; i++) {
    clock.advance(day + 1000);
    await restarted.refreshDue();
  }
  assert.ok(w.host.requests > fetched, 'refreshed while within 30 days of the use');
  fetched = w.host.requests;
  for (let i = 0; i < 3; i++) {
    clock.advance(day + 1000);
    assert.equal(await restarted.refreshDue(), 0);
  }
  assert.equal(w.host.requests, fetched);
  assert.equal(restarted.cache.get(DOMAIN), undefined, 'expired two days after the last refresh');
});

test('the background refresh runs on its own timer and stops at close', async (t) => {
  const w = await world(t, { policy: policyText('enforce', ['mx.sts.test'], 2 * 86400) });
  const clock = new ManualClock(Date.now());
  const sts = createMtaSts({ resolver: createResolver({ servers: [w.dns.server], timeoutMs: 500, retries: 0 }), family: 'any', timeoutMs: 2000, cacheSize: 100, clock, log: createLogger('error'), policyPort: w.host.port, ca: w.ca.ca, refreshSweepMs: 20 });
  t.after(() => sts.close());
  await sts.policyFor(DOMAIN);
  clock.advance(25 * 3600 * 1000);
  const deadline = Date.now() + 5000;
  while (w.host.requests < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(w.host.requests, 2, 'refreshed by the timer, once: fetched again a moment ago');
  await sts.close();
  clock.advance(25 * 3600 * 1000);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(w.host.requests, 2, 'no refresh after close');
});

test('a domain whose background refresh keeps failing does not take every sweep: the others get their turn', async (t) => {
  const w = await world(t);
  w.dns.set('_mta-sts.broken.test', [{ TXT: 'v=STSv1; id=7' }]);
  w.dns.set('mta-sts.broken.test', [{ A: '127.0.0.1' }]); // the policy host's certificate is not for this name: every fetch fails
  const now = Date.now();
  const day = 24 * 3600 * 1000;
  const entry = (expiresIn: number) => ({ id: '7', mode: 'enforce', mx: ['mx.sts.test'], maxAge: 604800, fetchedAt: now - day - 1000, expiresAt: now + expiresIn, usedAt: now - 3600 * 1000 });
  const file = path.join(w.dataDir, 'starve-policies.json');
  // broken.test expires first, so it is the first due every time
  writeFileSync(file, JSON.stringify({ version: 1, policies: { 'broken.test': entry(2 * day), [DOMAIN]: { ...entry(5 * day), id: '1' } } }), { mode: 0o600 });
  const clock = new ManualClock(now);
  const sts = createMtaSts({ resolver: createResolver({ servers: [w.dns.server], timeoutMs: 500, retries: 0 }), family: 'any', timeoutMs: 2000, cacheSize: 100, file, clock, log: createLogger('error'), registry: w.registry, policyPort: w.host.port, ca: w.ca.ca, refreshSweepMs: 0, refreshPerSweep: 1 });
  t.after(() => sts.close());
  assert.equal(await sts.refreshDue(), 1);
  assert.equal(await w.metric('spamgate_mta_sts_fetch_failures_total', { reason: 'certificate' }), 1, 'broken.test tried first, and failed');
  assert.equal(w.host.requests, 0);
  clock.advance(3600 * 1000);
  assert.equal(await sts.refreshDue(), 1);
  assert.equal(w.host.requests, 1, 'the next sweep refreshed sts.test instead of trying broken.test again');
  assert.equal(sts.cache.get('broken.test')?.mode, 'enforce', 'the failing domain keeps its cached policy');
});
