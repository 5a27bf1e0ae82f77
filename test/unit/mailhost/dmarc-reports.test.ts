// DMARC aggregate reports, the pieces: the record's policy and rua (RFC 7489 §6.4, "!" size limits), the gateway
// action as a disposition, the loop guard, the bounded counter store across a reopen (mode 0600, rows full), the
// XML with escaped values and the §7.2.1.1 file name, the §7.1 destination check, and the config section.
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { checkDestination } from '../../../src/mailhost/dmarc-destination.ts';
import { dispositionOf, isReportMail } from '../../../src/mailhost/dmarc-observe.ts';
import { parseDmarcRecord } from '../../../src/mailhost/dmarc-record.ts';
import { buildDmarcReport } from '../../../src/mailhost/dmarc-report.ts';
import { createDmarcReportStore, type DmarcObservation } from '../../../src/mailhost/dmarc-store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { createLogger } from '../../../src/util/logger.ts';
import { createZoneResolver } from '../../helpers/dns-server.ts';

const T0 = Date.parse('2026-03-10T10:00:00Z');

test('DMARC records (RFC 7489 §6.4): policy defaults, rua lists with "!" size limits, other schemes left out', () => {
  const r = parseDmarcRecord('v=DMARC1; p=Reject; rua=mailto:a@X.test!10m, https://x.test/r ,mailto:b@y.test!500; pct=20; adkim=s');
  assert.ok(typeof r !== 'string', String(r));
  assert.deepEqual(r.policy, { p: 'reject', sp: 'reject', adkim: 's', aspf: 'r', pct: 20 });
  assert.deepEqual(r.rua, [{ address: 'a@x.test', maxBytes: 10 * 1024 * 1024 }, { address: 'b@y.test', maxBytes: 500 }]);
  const none = parseDmarcRecord('v=DMARC1;p=none;sp=quarantine;');
  assert.ok(typeof none !== 'string');
  assert.deepEqual(none.rua, []);
  assert.equal(none.policy.sp, 'quarantine');
  for (const bad of ['p=none; v=DMARC1', 'v=DMARC2; p=none', 'v=DMARC1; p=maybe', 'v=DMARC1', 'v=DMARC1; p=none; pct=101', 'v=DMARC1; p=none; adkim=x', 'v=DMARC1; p=none; rua=mailto:@x.test', 'v=DMARC1; p=none; rua=mailto:a@x.test!big', 'v=DMARC1; p=none; p=reject', 'v=DMARC1; p=none; rua=mailto:a@x.test,,mailto:b@x.test']) {
    assert.equal(typeof parseDmarcRecord(bad), 'string', bad);
  }
});

test('the gateway action as a DMARC disposition; tempfail is none counted', () => {
  assert.equal(dispositionOf('reject'), 'reject');
  assert.equal(dispositionOf('quarantine'), 'quarantine');
  assert.equal(dispositionOf('junk'), 'quarantine');
  for (const a of ['accept', 'add_header', 'rewrite_subject'] as const) assert.equal(dispositionOf(a), 'none');
  assert.equal(dispositionOf('tempfail'), undefined);
});

test('the loop guard: report mail and mail from our report address are not counted', () => {
  const m = (head: string) => Buffer.from(`${head}\r\n\r\nbody\r\n`);
  assert.equal(isReportMail(m('From: <a@x.test>\r\nSubject: hello'), 'dmarc@us.test'), false);
  assert.equal(isReportMail(m('From: <a@x.test>\r\nSubject: Report Domain: x.test\r\n Submitter: y.test Report-ID: <1>'), 'dmarc@us.test'), true);
  assert.equal(isReportMail(m('From: <a@x.test>\r\nContent-Type: multipart/report; report-type=feedback-report'), 'dmarc@us.test'), true);
  assert.equal(isReportMail(m('From: <a@x.test>\r\nTLS-Report-Domain: x.test'), 'dmarc@us.test'), true);
  assert.equal(isReportMail(m('From: "Reports" <DMARC@us.test>\r\nSubject: hi'), 'dmarc@us.test'), true);
});

function rig(file?: string) {
  const clock = new ManualClock(T0);
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', new Writable({ write: (c: Buffer, _e, cb) => void (logs.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }));
  const store = createDmarcReportStore({ ...(file ? { file } : {}), clock, log, saveEveryMs: 0, limits: { domainsPerDay: 2, rowsPerDomain: 2 } });
  return { logs, store };
}

const seen = (domain: string, ip: string, at = T0): DmarcObservation => ({
  at,
  policy: { domain, orgDomain: domain, record: `v=DMARC1; p=none; rua=mailto:r@${domain}`, p: 'none', sp: 'none', adkim: 'r', aspf: 'r', pct: 100 },
  row: { sourceIp: ip, disposition: 'none', dkim: 'pass', spf: 'fail', headerFrom: domain, envelopeFrom: domain, dkimAuth: [{ domain, selector: 's', result: 'pass' }], spfAuth: { domain, scope: 'mfrom', result: 'softfail' } },
});

test('bounded: domains a day and rows a domain (past them dropped, counted and logged once); kept across a reopen with mode 0600', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'spamgate-dmarc-store-')), 'dmarc-reports.json');
  const { store, logs } = rig(file);
  for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.1', '192.0.2.3', '192.0.2.4']) store.record(seen('one.test', ip));
  store.record(seen('two.test', '192.0.2.1'));
  store.record(seen('three.test', '192.0.2.1'));
  store.record(seen('one.test', '192.0.2.9', T0 + 86_400_000));
  await store.close();
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(logs.filter((l) => String(l.msg).startsWith('DMARC report rows full')).length, 1, 'logged once');
  const again = rig(file).store;
  assert.deepEqual(again.days(), ['2026-03-10', '2026-03-11']);
  const day = again.domainsOf('2026-03-10');
  assert.deepEqual([...day.keys()], ['one.test', 'two.test'], 'a third domain is not kept');
  const one = day.get('one.test');
  assert.deepEqual(one?.rows.map((r) => `${r.sourceIp}=${r.count}`), ['192.0.2.1=2', '192.0.2.2=1']);
  assert.equal(one?.dropped, 2);
  await again.close();
});

test('rows of all domains of a day are bounded too (rowsPerDay): domains a day times rows a domain is no bound on memory', async () => {
  const clock = new ManualClock(T0);
  const store = createDmarcReportStore({ clock, log: createLogger('error'), saveEveryMs: 0, limits: { domainsPerDay: 100, rowsPerDomain: 100, rowsPerDay: 5 } });
  for (let d = 0; d < 4; d++) for (let i = 1; i <= 3; i++) store.record(seen(`d${d}.test`, `192.0.2.${i}`));
  const day = store.domainsOf('2026-03-10');
  assert.equal([...day.values()].reduce((n, e) => n + e.rows.length, 0), 5);
  assert.equal([...day.values()].reduce((n, e) => n + e.dropped, 0), 7);
  store.record(seen('d0.test', '192.0.2.1'));
  assert.equal(day.get('d0.test')?.rows[0]?.count, 2, 'an existing row is still counted');
  await store.close();
});

test('a row with names past the 255 the counters file allows (a long MAIL FROM domain, a forged DKIM d= and s=) is cut to fit: the day survives a restart', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'spamgate-dmarc-store-')), 'dmarc-reports.json');
  const { store } = rig(file);
  store.record(seen('one.test', '192.0.2.1'));
  const long = `${'a'.repeat(63)}.`.repeat(5) + 'test';
  const o = seen('two.test', '192.0.2.2');
  store.record({ ...o, row: { ...o.row, envelopeFrom: long, dkimAuth: [{ domain: long, selector: long, result: 'permerror' }], spfAuth: { domain: long, scope: 'mfrom', result: 'none' } } });
  await store.close();
  const again = rig(file).store;
  const day = again.domainsOf('2026-03-10');
  assert.deepEqual([...day.keys()], ['one.test', 'two.test']);
  const row = day.get('two.test')?.rows[0];
  assert.equal(row?.envelopeFrom, long.slice(0, 255));
  assert.equal(row?.dkimAuth[0]?.selector, long.slice(0, 255));
  await again.close();
});

test('the XML report (RFC 7489 Appendix C): values escaped, an <error> for dropped rows, the §7.2.1.1 file name', () => {
  const o = seen('one.test', '2001:db8::1');
  const r = buildDmarcReport({ orgName: 'A & B <Org>', email: 'r@us.test', submitter: 'mx.us.test', day: '2026-03-10', reportId: 'id-1' }, 'one.test', { policy: o.policy, rows: [{ ...o.row, count: 3 }], dropped: 4 });
  const begin = Date.parse('2026-03-10T00:00:00Z') / 1000;
  assert.equal(r.filename, `mx.us.test!one.test!${begin}!${begin + 86_399}.xml.gz`);
  assert.match(r.xml, /<org_name>A &#38; B &#60;Org&#62;<\/org_name>/);
  assert.match(r.xml, /<error>4 messages not reported/);
  assert.match(r.xml, /<row><source_ip>2001:db8::1<\/source_ip><count>3<\/count><policy_evaluated><disposition>none<\/disposition><dkim>pass<\/dkim><spf>fail<\/spf><\/policy_evaluated><\/row>/);
  assert.match(r.xml, /<auth_results><dkim><domain>one\.test<\/domain><selector>s<\/selector><result>pass<\/result><\/dkim><spf><domain>one\.test<\/domain><scope>mfrom<\/scope><result>softfail<\/result><\/spf><\/auth_results>/);
});

test('the report id is the same whenever one domain\'s report of one day is built (a copy sent again after a crash can be told), and differs by day and domain', () => {
  const o = seen('one.test', '192.0.2.1');
  const data = { policy: o.policy, rows: [{ ...o.row, count: 1 }], dropped: 0 };
  const meta = { orgName: 'Org', email: 'r@us.test', submitter: 'mx.us.test', day: '2026-03-10' };
  const id = buildDmarcReport(meta, 'one.test', data).reportId;
  assert.equal(buildDmarcReport(meta, 'one.test', data).reportId, id);
  assert.notEqual(buildDmarcReport({ ...meta, day: '2026-03-11' }, 'one.test', data).reportId, id);
  assert.notEqual(buildDmarcReport(meta, 'two.test', data).reportId, id);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

test('external destinations (RFC 7489 §7.1): inside the organization without a look-up, outside only with v=DMARC1 at <domain>._report._dmarc.<rua-domain>', async () => {
  const resolver = createZoneResolver({
    'a.test._report._dmarc.rua.test': [{ TXT: 'v=DMARC1' }],
    'b.test._report._dmarc.rua.test': [{ TXT: 'v=spf1 -all' }],
    'c.test._report._dmarc.rua.test': 'SERVFAIL',
  });
  assert.equal(await checkDestination(resolver, 'mail.a.test', 'a.test', 'reports.a.test'), 'internal');
  assert.equal(await checkDestination(resolver, 'a.test', 'a.test', 'rua.test'), 'authorized');
  assert.equal(await checkDestination(resolver, 'b.test', 'b.test', 'rua.test'), 'unauthorized');
  assert.equal(await checkDestination(resolver, 'd.test', 'd.test', 'rua.test'), 'unauthorized');
  assert.equal(await checkDestination(resolver, 'c.test', 'c.test', 'rua.test'), 'temperror');
});

test('dmarc_reports config: off by default, in both modes; a bad address or a multi-line org_name is refused', () => {
  const base = configSchema.parse({});
  assert.equal(base.dmarc_reports.enabled, false);
  const front = configSchema.safeParse({ mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port: 2525 } }, dmarc_reports: { enabled: true, email: 'dmarc@us.test' } });
  assert.ok(front.success, 'front-of mode sends through delivery.upstream');
  for (const bad of [{ email: 'not an address' }, { org_name: 'a\nb' }, { unknown: 1 }]) {
    const r = configSchema.safeParse({ dmarc_reports: bad });
    assert.equal(r.success, false, JSON.stringify(bad));
  }
});

test('a row of a policy override (a trusted ARC sealer): its own row, kept across a reopen, written as policy_evaluated/reason (Appendix C)', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'spamgate-dmarc-store-')), 'dmarc-reports.json');
  const { store } = rig(file);
  const o = seen('one.test', '192.0.2.1');
  const reason = { type: 'trusted_forwarder' as const, comment: 'arc=pass i=1 sealer=lists.example dmarc=pass' };
  store.record(o);
  store.record({ ...o, row: { ...o.row, reason } });
  store.record({ ...o, row: { ...o.row, reason } });
  await store.close();
  const again = rig(file).store;
  const data = again.domainsOf('2026-03-10').get('one.test');
  assert.deepEqual(data?.rows.map((r) => [r.count, r.reason]), [[1, undefined], [2, reason]]);
  await again.close();
  assert.ok(data);
  const xml = buildDmarcReport({ orgName: 'Org', email: 'r@us.test', submitter: 'mx.us.test', day: '2026-03-10' }, 'one.test', data).xml;
  assert.match(xml, /<count>2<\/count><policy_evaluated><disposition>none<\/disposition><dkim>pass<\/dkim><spf>fail<\/spf><reason><type>trusted_forwarder<\/type><comment>arc=pass i=1 sealer=lists\.example dmarc=pass<\/comment><\/reason><\/policy_evaluated>/);
});
