// TLS reporting parts on their own: the TLSRPT record parser (RFC 8460 §3), result types of certificate codes,
// the counters' bounds and state file (0600, corrupt file), the report's file name (§5.1), the config section.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { parseTlsRptRecord } from '../../../src/mailhost/tlsrpt-record.ts';
import { buildReport } from '../../../src/mailhost/tlsrpt-report.ts';
import { createTlsReporter } from '../../../src/mailhost/tlsrpt-reporter.ts';
import type { Resolver } from '../../../src/dns/resolver.ts';
import type { QueueEnvelope } from '../../../src/queue/types.ts';
import { certificateResult, policyFetchResult } from '../../../src/mailhost/tlsrpt-session.ts';
import { createTlsReportStore, type SessionEvent } from '../../../src/mailhost/tlsrpt-store.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { createLogger } from '../../../src/util/logger.ts';

const T0 = Date.parse('2026-03-10T10:00:00Z');

test('TLSRPT records that parse (RFC 8460 §3): several URIs, spaces, a trailing ";", unknown fields ignored', () => {
  const ok = (r: string) => {
    const p = parseTlsRptRecord(r);
    assert.ok(typeof p !== 'string', `${r}: ${String(p)}`);
    return p.rua.map((u) => (u.kind === 'mailto' ? `mailto:${u.address}` : u.url.href));
  };
  assert.deepEqual(ok('v=TLSRPTv1; rua=mailto:tls@Example.COM'), ['mailto:tls@example.com']);
  assert.deepEqual(ok('v=TLSRPTv1;rua=mailto:a@x.test, https://r.x.test/tlsrpt ;'), ['mailto:a@x.test', 'https://r.x.test/tlsrpt']);
  assert.deepEqual(ok('v=TLSRPTv1 ; ext_1=foo; rua=mailto:a%2Bb@x.test'), ['mailto:a+b@x.test']);
  assert.deepEqual(ok('v=TLSRPTv1; rua=mailto:a@x.test,ftp://x.test/r'), ['mailto:a@x.test'], 'an unknown scheme is left out');
});

test('TLSRPT records that do not parse', () => {
  for (const r of [
    'v=tlsrptv1; rua=mailto:a@x.test', // %s: case-sensitive
    'v=TLSRPTv1',
    'v=TLSRPTv1; rua=',
    'v=TLSRPTv1; rua=mailto:a@x.test; rua=mailto:b@x.test',
    'v=TLSRPTv1; rua=mailto:a@x.test,,mailto:b@x.test',
    'v=TLSRPTv1; rua=https://user:pw@x.test/',
    'v=TLSRPTv1; rua=mailto:@x.test',
    'v=TLSRPTv1; rua=mailto:a@x.test; bad field',
    'v=TLSRPTv1; rua=mailto:a@x.test; =x',
    'rua=mailto:a@x.test',
  ]) {
    assert.equal(typeof parseTlsRptRecord(r), 'string', r);
  }
});

test('result types (RFC 8460 §4.3) of node certificate codes and policy fetch failures', () => {
  assert.equal(certificateResult('ERR_TLS_CERT_ALTNAME_INVALID'), 'certificate-host-mismatch');
  assert.equal(certificateResult('CERT_HAS_EXPIRED'), 'certificate-expired');
  for (const c of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) assert.equal(certificateResult(c), 'certificate-not-trusted', c);
  assert.equal(certificateResult('CERT_NOT_YET_VALID'), 'validation-failure');
  assert.equal(certificateResult(undefined), 'validation-failure');
  assert.equal(policyFetchResult('certificate'), 'sts-webpki-invalid');
  assert.equal(policyFetchResult('invalid_policy'), 'sts-policy-invalid');
  assert.equal(policyFetchResult('timeout'), 'sts-policy-fetch-error');
});

function rig(file?: string) {
  const clock = new ManualClock(T0);
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', new Writable({ write: (c: Buffer, _e, cb) => void (logs.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }));
  const store = createTlsReportStore({ ...(file ? { file } : {}), clock, log, saveEveryMs: 0, limits: { domainsPerDay: 2, policiesPerDomain: 1, detailsPerPolicy: 2 } });
  return { clock, logs, store };
}

/** A stand-in for the DKIM notice signer with a key for the submitter's domain. */
const fakeSign = async (m: Buffer): Promise<Buffer> => Buffer.concat([Buffer.from('DKIM-Signature: v=1; a=rsa-sha256; d=gw.test; s=t; b=x\r\n'), m]);

const fail = (domain: string, mx: string, at = T0): SessionEvent => ({ domain, policy: { type: 'no-policy-found' }, at, ok: false, failure: { resultType: 'starttls-not-supported', receivingMxHostname: mx } });

test('bounded: domains a day, policies a domain, failure rows a policy (failures past it still in the total)', () => {
  const { store } = rig();
  for (const mx of ['a', 'b', 'c', 'a']) store.record(fail('one.test', mx));
  store.record({ domain: 'one.test', policy: { type: 'sts', lines: [], mx: [] }, at: T0, ok: true });
  store.record(fail('two.test', 'a'));
  store.record(fail('three.test', 'a'));
  const day = store.domainsOf('2026-03-10');
  assert.deepEqual([...day.keys()], ['one.test', 'two.test']);
  const [one] = day.get('one.test') ?? [];
  assert.equal(day.get('one.test')?.length, 1, 'the second policy is not kept');
  assert.equal(one?.failure, 4);
  assert.deepEqual(one?.details.map((d) => `${d.receivingMxHostname ?? ''}:${d.count}`), ['a:2', 'b:1']);
});

test('days by UTC date; the state file is 0600 and read back; a corrupt one starts empty, logged', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-tlsrpt-unit-'));
  const file = path.join(dir, 'tls-reports.json');
  const a = rig(file);
  a.store.record(fail('one.test', 'a', Date.parse('2026-03-10T23:59:59.999Z')));
  a.store.record(fail('one.test', 'a', Date.parse('2026-03-11T00:00:00Z')));
  await a.store.close();
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const b = rig(file);
  assert.deepEqual(b.store.days(), ['2026-03-10', '2026-03-11']);
  assert.equal(b.store.domainsOf('2026-03-11').get('one.test')?.[0]?.failure, 1);
  writeFileSync(file, readFileSync(file, 'utf8').replace('starttls-not-supported', 'made-up-result'));
  const c = rig(file);
  assert.deepEqual(c.store.days(), []);
  assert.ok(c.logs.some((l) => l.msg === 'TLS report counters unreadable: starting empty'));
});

test('the report file name (RFC 8460 §5.1) and date range', () => {
  const r = buildReport({ organizationName: 'O', contactInfo: 'c', submitter: 'mx.gw.test', policyDomain: 'x.test', day: '2026-03-10', reportId: 'id!1' }, []);
  assert.equal(r.filename, 'mx.gw.test!x.test!1773100800!1773187199!id%211.json.gz');
  assert.equal(Date.parse('2026-03-10T00:00:00Z') / 1000, 1773100800);
});

test('outbound.tls_reports config: off by default; one-line text; not with a relay', () => {
  assert.equal(configSchema.parse({}).outbound.tls_reports.enabled, false);
  assert.equal(configSchema.safeParse({ outbound: { tls_reports: { enabled: true, organization_name: 'A\nB' } } }).success, false);
  assert.equal(configSchema.safeParse({ outbound: { tls_reports: { submitter: 'not a domain' } } }).success, false);
  const relayed = configSchema.safeParse({ outbound: { relay: { host: 'relay.test' }, tls_reports: { enabled: true } } });
  assert.equal(relayed.success, false);
  assert.match(JSON.stringify(relayed.error?.issues), /tls_reports/);
});

test('a report sent again after a crash before the counters were saved has the same Report-ID (RFC 8460 §5.3: duplicates can be told)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-tlsrpt-unit-'));
  const file = path.join(dir, 'tls-reports.json');
  const a = rig(file);
  a.store.record(fail('one.test', 'a'));
  await a.store.flush();
  const saved = path.join(dir, 'saved.json');
  copyFileSync(file, saved);
  const resolver: Resolver = {
    lookup: async (name, type) => (name === '_smtp._tls.one.test' && type === 'TXT' ? { status: 'ok', records: ['v=TLSRPTv1; rua=mailto:tls@one.test'] as never[], ttl: 60 } : { status: 'nxdomain', ttl: 60 }),
  };
  const subjects: string[] = [];
  const sink = { enqueue: async (_e: QueueEnvelope, m: Buffer) => (subjects.push(/^Subject: ([^]*?)\r\n(?! )/m.exec(m.toString('latin1'))?.[1] ?? ''), { id: String(subjects.length) }) };
  const send = async (store: ReturnType<typeof rig>['store'], clock: ManualClock) => {
    const reporter = createTlsReporter({ store, settings: { organizationName: 'O', contactInfo: 'c', submitter: 'gw.test' }, resolver, sink, sign: fakeSign, clock, log: createLogger('error', new Writable({ write: (_c, _e, cb) => cb() })), random: () => 0, sweepMs: 0 });
    clock.set(Date.parse('2026-03-11T01:00:00Z'));
    assert.equal(await reporter.sendDue(), 1);
  };
  await send(a.store, a.clock);
  // killed before the counters' file said the report went: the next start finds the day's counts again
  copyFileSync(saved, file);
  const b = rig(file);
  await send(b.store, b.clock);
  assert.equal(subjects.length, 2);
  const id = (s: string) => /Report-ID: <([^>]+)>/.exec(s)?.[1];
  assert.ok(id(subjects[0] ?? ''));
  assert.equal(id(subjects[1] ?? ''), id(subjects[0] ?? ''));
});

test('a report by mail that no DKIM key signs is not sent (RFC 8460 §5.3: it MUST be signed by the reporting domain, and is ignored unsigned)', async () => {
  const a = rig();
  a.store.record(fail('one.test', 'a'));
  const resolver: Resolver = {
    lookup: async (name, type) => (name === '_smtp._tls.one.test' && type === 'TXT' ? { status: 'ok', records: ['v=TLSRPTv1; rua=mailto:tls@one.test'] as never[], ttl: 60 } : { status: 'nxdomain', ttl: 60 }),
  };
  const queued: Buffer[] = [];
  const sink = { enqueue: async (_e: QueueEnvelope, m: Buffer) => (queued.push(m), { id: 'q' }) };
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', new Writable({ write: (c: Buffer, _e, cb) => void (logs.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }));
  const registry = createRegistry(false);
  // the notice signer with no key for the submitter's domain: the message back as it was
  const reporter = createTlsReporter({ store: a.store, settings: { organizationName: 'O', contactInfo: 'c', submitter: 'gw.test' }, resolver, sink, sign: async (m) => m, clock: a.clock, log, registry, random: () => 0, sweepMs: 0 });
  a.clock.set(Date.parse('2026-03-11T01:00:00Z'));
  assert.equal(await reporter.sendDue(), 1);
  assert.equal(queued.length, 0);
  assert.match((await registry.metrics()).toString(), /^spamgate_tls_reports_total\{result="failed"\} 1$/m);
  assert.ok(logs.some((l) => /no DKIM key/.test(String(l.msg)) && l.submitter === 'gw.test'));
});

test('DANE sessions (RFC 8460 §4.3, §4.4): a tlsa policy with its records, tlsa-invalid and dnssec-invalid rows, kept in the state file and reported', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-tlsrpt-dane-'));
  const file = path.join(dir, 'tls-reports.json');
  const a = rig(file);
  const policy = { type: 'tlsa' as const, lines: [`3 1 1 ${'ab'.repeat(32)}`] };
  a.store.record({ domain: 'dane.test', policy, at: T0, ok: true });
  a.store.record({ domain: 'dane.test', policy, at: T0, ok: false, failure: { resultType: 'tlsa-invalid', receivingMxHostname: 'mx1.dane.test', receivingIp: '192.0.2.1' } });
  a.store.record({ domain: 'dane.test', policy, at: T0, ok: false, failure: { resultType: 'dnssec-invalid', receivingMxHostname: 'mx2.dane.test' } });
  await a.store.close();
  const b = rig(file);
  const counts = b.store.domainsOf('2026-03-10').get('dane.test') ?? [];
  assert.equal(counts.length, 1, 'read back from the state file');
  const report = JSON.parse(buildReport({ organizationName: 'O', contactInfo: 'c', submitter: 'gw.test', policyDomain: 'dane.test', day: '2026-03-10' }, counts).json) as {
    policies: Array<{ policy: Record<string, unknown>; summary: Record<string, number>; 'failure-details': Array<Record<string, unknown>> }>;
  };
  const p = report.policies[0];
  assert.deepEqual(p?.policy, { 'policy-type': 'tlsa', 'policy-string': policy.lines, 'policy-domain': 'dane.test' });
  assert.deepEqual(p?.summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 2 });
  assert.deepEqual(p?.['failure-details'].map((d) => d['result-type']), ['tlsa-invalid', 'dnssec-invalid']);
});
