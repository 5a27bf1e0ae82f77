// Aggregate reports that are neither lost nor sent twice, over real sockets on 127.0.0.1 (an HTTPS rua server with a
// test CA, a dns2 DNS server): a TLS report whose https rua refused the connection arrives once after the retry,
// also across a restart; a rua that always answers 500 is given up after the bound; a 404 is never retried; a DMARC
// report whose §7.1 consent look-up got SERVFAIL goes once the record answers; of two DMARC ruas only the one whose
// report could not be queued is tried again; and a round stopped after its first domain sends only the rest.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { createDmarcReporter, type DmarcReporter } from '../../src/mailhost/dmarc-reporter.ts';
import { createDmarcReportStore, type DmarcObservation } from '../../src/mailhost/dmarc-store.ts';
import { createTlsReporter, type TlsReporter } from '../../src/mailhost/tlsrpt-reporter.ts';
import { createTlsReportStore } from '../../src/mailhost/tlsrpt-store.ts';
import { createRegistry, type Registry } from '../../src/metrics/registry.ts';
import type { MessageSink, QueueEnvelope } from '../../src/queue/types.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { capturingLogger } from '../helpers/capture-logs.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { freePort } from '../helpers/free-port.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { makeTestCa, type TestCa } from '../helpers/test-ca.ts';

const T0 = Date.parse('2026-03-10T10:00:00Z');
const DAY2 = Date.parse('2026-03-11T00:00:00Z');
const MIN = 60_000;

interface Post {
  path: string;
  reportId: string;
}

/** An HTTPS rua server on `port` (0: any): `answer` gives each POST's status, or 'hang' to never answer. */
async function startRua(t: TestContext, ca: TestCa, port: number, answer: (path: string) => number | 'hang'): Promise<{ port: number; posts: Post[]; hung: Promise<void> }> {
  const posts: Post[] = [];
  const sockets = new Set<Socket>();
  let hung!: () => void;
  const hungP = new Promise<void>((r) => (hung = r));
  const server = https.createServer(ca.issue(['rua.test']), (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as { 'report-id': string };
      const p = req.url ?? '';
      posts.push({ path: p, reportId: json['report-id'] });
      const a = answer(p);
      if (a === 'hang') hung();
      else res.writeHead(a).end();
    });
  });
  server.on('connection', (s: Socket) => void sockets.add(s).size);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : port, posts, hung: hungP };
}

interface Rig {
  ca: TestCa;
  dns: TestDnsServer;
  clock: ManualClock;
  dataDir: string;
  registry: Registry;
  metric(name: string, result: string): Promise<number>;
  journals(): string[];
}

async function rig(t: TestContext): Promise<Rig> {
  const dns = await startDnsServer({ 'rua.test': [{ A: '127.0.0.1' }] }, { defaultTtl: 0, negativeTtl: 0 });
  t.after(() => dns.close());
  const dataDir = tempDir(t, 'spamgate-rptretry-');
  const registry = createRegistry(false);
  return {
    ca: makeTestCa(t),
    dns,
    clock: new ManualClock(T0),
    dataDir,
    registry,
    async metric(name, result) {
      const m = await registry.getSingleMetric(name)?.get();
      return m?.values.find((x) => x.labels.result === result)?.value ?? 0;
    },
    journals: () => readdirSync(dataDir).filter((n) => n.endsWith('.journal')),
  };
}

/** A TLS reporter over the rig's files (as at a start of spamgate); its store holds `record`ed sessions. */
function tlsReporter(r: Rig, opts: { httpsTimeoutMs?: number } = {}): { reporter: TlsReporter; record(domain: string, at?: number): void; flush(): Promise<boolean> } {
  const { log } = capturingLogger('debug');
  const store = createTlsReportStore({ file: path.join(r.dataDir, 'tls-reports.json'), clock: r.clock, log, saveEveryMs: 0 });
  const sink: MessageSink = { enqueue: async () => ({ id: 'q' }) };
  const reporter = createTlsReporter({
    store,
    settings: { organizationName: 'O', contactInfo: 'c', submitter: 'gw.test' },
    resolver: createResolver({ servers: [r.dns.server], timeoutMs: 500, retries: 0 }),
    sink,
    clock: r.clock,
    log,
    registry: r.registry,
    random: () => 0,
    sweepMs: 0,
    ca: r.ca.ca,
    httpsTimeoutMs: opts.httpsTimeoutMs ?? 3000,
    journal: { dir: r.dataDir, prefix: 'tls-reports.' },
  });
  return { reporter, record: (domain, at = T0) => store.record({ domain, policy: { type: 'no-policy-found' }, at, ok: true }), flush: () => store.flush() };
}

test('an https rua that refuses the connection: the report arrives once, after the retry, across a restart of the reporter', async (t) => {
  const r = await rig(t);
  const port = await freePort();
  r.dns.set('_smtp._tls.a.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${port}/r` }]);
  const first = tlsReporter(r);
  first.record('a.test');
  r.clock.set(DAY2);
  await first.reporter.sendDue();
  assert.equal(await r.metric('spamgate_tls_reports_total', 'retry'), 1, 'refused: to be retried');
  assert.equal(await r.metric('spamgate_tls_reports_total', 'sent'), 0);
  await first.reporter.close();

  const rua = await startRua(t, r.ca, port, () => 201);
  const second = tlsReporter(r);
  t.after(() => second.reporter.close());
  r.clock.set(DAY2 + MIN);
  await second.reporter.sendDue();
  assert.equal(rua.posts.length, 0, 'the restart keeps the wait before the next attempt');
  r.clock.set(DAY2 + 15 * MIN);
  await second.reporter.sendDue();
  assert.equal(rua.posts.length, 1, 'one POST, after the wait');
  assert.equal(await r.metric('spamgate_tls_reports_total', 'sent'), 1);
  r.clock.set(DAY2 + 3 * 3600_000);
  await second.reporter.sendDue();
  assert.equal(rua.posts.length, 1, 'not sent twice');
  assert.deepEqual(r.journals(), [], "the round's journal is gone with the round");
});

test('an https rua that always answers 500: six attempts within 24 hours, then given up and counted', async (t) => {
  const r = await rig(t);
  const rua = await startRua(t, r.ca, 0, () => 500);
  r.dns.set('_smtp._tls.a.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${rua.port}/r` }]);
  const { reporter, record } = tlsReporter(r);
  t.after(() => reporter.close());
  record('a.test');
  r.clock.set(DAY2);
  for (let h = 0; h <= 30; h++) {
    r.clock.set(DAY2 + h * 3600_000);
    await reporter.sendDue();
  }
  assert.equal(rua.posts.length, 6, 'bounded attempts');
  assert.equal(new Set(rua.posts.map((p) => p.reportId)).size, 1, 'the same report each time');
  assert.equal(await r.metric('spamgate_tls_reports_total', 'retry'), 5);
  assert.equal(await r.metric('spamgate_tls_reports_total', 'given_up'), 1);
  assert.equal(await r.metric('spamgate_tls_reports_total', 'sent'), 0);
  assert.deepEqual(r.journals(), []);
});

test('an https rua that answers 404 is not tried again; a second rua that answered 503 is, alone', async (t) => {
  const r = await rig(t);
  let busy = true;
  const rua = await startRua(t, r.ca, 0, (p) => (p === '/gone' ? 404 : busy ? 503 : 201));
  r.dns.set('_smtp._tls.a.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${rua.port}/gone,https://rua.test:${rua.port}/busy` }]);
  const { reporter, record } = tlsReporter(r);
  t.after(() => reporter.close());
  record('a.test');
  r.clock.set(DAY2);
  await reporter.sendDue();
  assert.deepEqual(rua.posts.map((p) => p.path), ['/gone', '/busy']);
  busy = false;
  r.clock.set(DAY2 + 20 * MIN);
  await reporter.sendDue();
  r.clock.set(DAY2 + 5 * 3600_000);
  await reporter.sendDue();
  assert.deepEqual(rua.posts.map((p) => p.path), ['/gone', '/busy', '/busy'], 'the 404 rua once, the 503 one until it took the report');
  assert.equal(await r.metric('spamgate_tls_reports_total', 'retry'), 1);
  assert.equal(await r.metric('spamgate_tls_reports_total', 'sent'), 1);
});

test('a round stopped after its first domain (no save of the store): the next start sends only the remaining domain', async (t) => {
  const r = await rig(t);
  let hangB = true;
  const rua = await startRua(t, r.ca, 0, (p) => (p === '/b' && hangB ? 'hang' : 201));
  r.dns.set('_smtp._tls.a.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${rua.port}/a` }]);
  r.dns.set('_smtp._tls.b.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${rua.port}/b` }]);
  const crashed = tlsReporter(r, { httpsTimeoutMs: 60_000 });
  crashed.record('a.test');
  crashed.record('b.test');
  await crashed.flush();
  r.clock.set(DAY2);
  const round = crashed.reporter.sendDue();
  // a.test's report went; b.test's POST hangs: the process "dies" here (its store is never saved again)
  await rua.hung;
  hangB = false;
  const next = tlsReporter(r);
  await next.reporter.sendDue();
  assert.deepEqual(rua.posts.map((p) => p.path), ['/a', '/b', '/b'], 'a.test not sent again, b.test sent');
  assert.deepEqual(r.journals(), []);
  await next.reporter.close();
  await crashed.reporter.close();
  await round;
});

test('a round whose process is SIGKILLed after its first domain: the next start sends only the remaining domain', async (t) => {
  const r = await rig(t);
  let hangB = true;
  const rua = await startRua(t, r.ca, 0, (p) => (p === '/b' && hangB ? 'hang' : 201));
  r.dns.set('_smtp._tls.a.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${rua.port}/a` }]);
  r.dns.set('_smtp._tls.b.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${rua.port}/b` }]);
  const before = tlsReporter(r);
  before.record('a.test');
  before.record('b.test');
  await before.reporter.close();
  const caFile = path.join(r.dataDir, 'ca.pem');
  writeFileSync(caFile, r.ca.ca);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../helpers/tlsrpt-round-child.ts'), r.dataDir, r.dns.server, caFile, String(DAY2)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  // a.test's report went; b.test's POST hangs: the process is killed there, nothing of its own shutdown runs
  await rua.hung;
  child.kill('SIGKILL');
  await once(child, 'exit');
  hangB = false;
  r.clock.set(DAY2);
  const next = tlsReporter(r);
  t.after(() => next.reporter.close());
  await next.reporter.sendDue();
  assert.deepEqual(rua.posts.map((p) => p.path), ['/a', '/b', '/b'], 'a.test not sent again, b.test sent');
  assert.equal(new Set(rua.posts.map((p) => p.reportId)).size, 2);
  assert.deepEqual(r.journals(), []);
});

test('after days of downtime, the first session of a new day does not evict a day whose retry is pending', async (t) => {
  const r = await rig(t);
  let busy = true;
  const rua = await startRua(t, r.ca, 0, () => (busy ? 503 : 201));
  r.dns.set('_smtp._tls.a.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${rua.port}/r` }]);
  const first = tlsReporter(r);
  first.record('a.test');
  r.clock.set(DAY2);
  await first.reporter.sendDue();
  assert.equal(rua.posts.length, 1, "2026-03-10's report failed for now: its retry is pending");
  // sessions of the next two days (their rounds not run yet), then spamgate is down until 2026-03-14
  first.record('a.test', DAY2 + 3600_000);
  first.record('a.test', DAY2 + 86_400_000 + 3600_000);
  await first.reporter.close();
  busy = false;
  const second = tlsReporter(r);
  t.after(() => second.reporter.close());
  const back = Date.parse('2026-03-14T06:00:00Z');
  r.clock.set(back);
  // the first TLS session of the new day comes before the round
  second.record('a.test', back);
  await second.reporter.sendDue();
  const days = new Set(rua.posts.slice(1).map((p) => p.reportId));
  assert.equal(days.size, 3, `the reports of 03-10 (retried), 03-11 and 03-12 all go: ${rua.posts.length} POSTs`);
  assert.equal(rua.posts.filter((p) => p.reportId === rua.posts[0]?.reportId).length, 2, "03-10's report is among them");
});

test('a TLSRPT look-up that fails for now follows the retry schedule across restarts: looked up again after 15 min, then the report goes', async (t) => {
  const r = await rig(t);
  const rua = await startRua(t, r.ca, 0, () => 201);
  r.dns.set('_smtp._tls.a.test', 'SERVFAIL');
  const first = tlsReporter(r);
  first.record('a.test');
  r.clock.set(DAY2);
  await first.reporter.sendDue();
  assert.equal(await r.metric('spamgate_tls_reports_total', 'retry'), 1, 'the look-up failed for now: to be retried');
  await first.reporter.close();
  // a restart 5 minutes later keeps the wait: no look-up before 15 minutes
  const second = tlsReporter(r);
  t.after(() => second.reporter.close());
  r.clock.set(DAY2 + 5 * MIN);
  await second.reporter.sendDue();
  assert.equal(r.dns.count('_smtp._tls.a.test', 'TXT'), 1, 'not looked up again before its wait');
  r.dns.set('_smtp._tls.a.test', [{ TXT: `v=TLSRPTv1; rua=https://rua.test:${rua.port}/r` }]);
  r.clock.set(DAY2 + 15 * MIN);
  await second.reporter.sendDue();
  r.clock.set(DAY2 + 3 * 3600_000);
  await second.reporter.sendDue();
  assert.equal(rua.posts.length, 1);
  assert.equal(await r.metric('spamgate_tls_reports_total', 'sent'), 1);
  assert.deepEqual(r.journals(), []);
});

test('a TLSRPT look-up that always fails, with a restart every hour: six look-ups within 24 hours, then given up', async (t) => {
  const r = await rig(t);
  r.dns.set('_smtp._tls.a.test', 'SERVFAIL');
  const first = tlsReporter(r);
  first.record('a.test');
  await first.reporter.close();
  for (let h = 0; h <= 30; h++) {
    r.clock.set(DAY2 + h * 3600_000);
    const { reporter } = tlsReporter(r);
    await reporter.sendDue();
    await reporter.close();
  }
  assert.equal(r.dns.count('_smtp._tls.a.test', 'TXT'), 6, 'bounded attempts, kept across restarts');
  assert.equal(await r.metric('spamgate_tls_reports_total', 'given_up'), 1);
  assert.deepEqual(r.journals(), []);
});

const observation = (domain: string, rua: string): DmarcObservation => ({
  at: T0,
  policy: { domain, orgDomain: domain, record: `v=DMARC1; p=none; rua=${rua}`, p: 'none', sp: 'none', adkim: 'r', aspf: 'r', pct: 100 },
  row: { sourceIp: '192.0.2.1', disposition: 'none', dkim: 'pass', spf: 'pass', headerFrom: domain, envelopeFrom: domain, dkimAuth: [] },
});

/** A DMARC reporter over the rig's files; `refuse` makes the sink refuse a report to that address (disk full). */
function dmarcReporter(r: Rig, queued: Array<{ to: string; subject: string }>, refuse: Set<string>): { reporter: DmarcReporter; record(o: DmarcObservation): void } {
  const { log } = capturingLogger('debug');
  const store = createDmarcReportStore({ file: path.join(r.dataDir, 'dmarc-reports.json'), clock: r.clock, log, saveEveryMs: 0 });
  const sink: MessageSink = {
    async enqueue(envelope: QueueEnvelope, message: Buffer) {
      const to = envelope.rcptTo[0] ?? '';
      if (refuse.has(to)) throw new Error('no space left on device');
      queued.push({ to, subject: /Report-ID: <([^>]+)>/.exec(message.toString('latin1'))?.[1] ?? '' });
      return { id: `q${queued.length}` };
    },
  };
  const reporter = createDmarcReporter({
    store,
    settings: { orgName: 'O', email: 'dmarc@gw.test', submitter: 'gw.test' },
    resolver: createResolver({ servers: [r.dns.server], timeoutMs: 500, retries: 0 }),
    sink,
    clock: r.clock,
    log,
    registry: r.registry,
    random: () => 0,
    sweepMs: 0,
    journal: { dir: r.dataDir, prefix: 'dmarc-reports.' },
  });
  return { reporter, record: (o) => store.record(o) };
}

test('DMARC: the §7.1 consent look-up of an external rua answers SERVFAIL, then the record: the report goes once, after the retry', async (t) => {
  const r = await rig(t);
  r.dns.set('d.test._report._dmarc.ext.test', 'SERVFAIL');
  const queued: Array<{ to: string; subject: string }> = [];
  const { reporter, record } = dmarcReporter(r, queued, new Set());
  t.after(() => reporter.close());
  record(observation('d.test', 'mailto:rua@ext.test'));
  r.clock.set(DAY2);
  await reporter.sendDue();
  assert.equal(queued.length, 0, 'nothing before the consent is seen (RFC 7489 §7.1)');
  assert.equal(await r.metric('spamgate_dmarc_reports_total', 'retry'), 1);
  r.dns.set('d.test._report._dmarc.ext.test', [{ TXT: 'v=DMARC1;' }]);
  r.clock.set(DAY2 + 15 * MIN);
  await reporter.sendDue();
  r.clock.set(DAY2 + 3 * 3600_000);
  await reporter.sendDue();
  assert.deepEqual(queued.map((q) => q.to), ['rua@ext.test']);
  assert.equal(await r.metric('spamgate_dmarc_reports_total', 'sent'), 1);
  assert.equal(await r.metric('spamgate_dmarc_reports_total', 'failed'), 0);
  assert.ok(r.dns.count('d.test._report._dmarc.ext.test', 'TXT') >= 2, 'looked up again');
});

test('DMARC: two ruas, the report to one could not be queued: only that one is tried again, with the same Report-ID', async (t) => {
  const r = await rig(t);
  const queued: Array<{ to: string; subject: string }> = [];
  const refuse = new Set(['b@d.test']);
  const { reporter, record } = dmarcReporter(r, queued, refuse);
  t.after(() => reporter.close());
  record(observation('d.test', 'mailto:a@d.test,mailto:b@d.test'));
  r.clock.set(DAY2);
  await reporter.sendDue();
  assert.deepEqual(queued.map((q) => q.to), ['a@d.test']);
  assert.equal(await r.metric('spamgate_dmarc_reports_total', 'retry'), 1);
  refuse.clear();
  r.clock.set(DAY2 + 15 * MIN);
  await reporter.sendDue();
  r.clock.set(DAY2 + 3 * 3600_000);
  await reporter.sendDue();
  assert.deepEqual(queued.map((q) => q.to), ['a@d.test', 'b@d.test'], 'a@ not sent twice');
  assert.equal(queued[0]?.subject, queued[1]?.subject, 'one report, one Report-ID');
  assert.equal(await r.metric('spamgate_dmarc_reports_total', 'sent'), 1);
  assert.deepEqual(r.journals(), []);
});
