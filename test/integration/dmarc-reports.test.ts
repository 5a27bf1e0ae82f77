// DMARC aggregate reports (RFC 7489 §7.2) in a running spamgate (full-stack): messages from domains with DMARC
// records are counted (pass, and fail under p=reject and p=quarantine), the counters survive a restart, and on
// the next UTC day the gzipped XML report is queued to the rua and delivered to its MX (the sink); an external
// rua needs its authorisation record (§7.1), a record without rua gets nothing.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import PostalMime from 'postal-mime';
import { ManualClock } from '../../src/util/clock.ts';
import { keygen } from '../helpers/dkim-keys.ts';
import { startGateway } from '../helpers/gateway.ts';
import { startSink, type SinkMessage } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { tempDir as makeTempDir } from '../helpers/temp-dir.ts';

/** A domain whose SPF record is `rule` and, with `mx`, whose MX is the sink (at 127.0.0.1). */
const domain = (name: string, rule: string, mx = false) => ({
  [name]: [{ TXT: `v=spf1 ${rule}` }, ...(mx ? [{ MX: [10, `mx.${name}`] as [number, string] }] : [])],
  ...(mx ? { [`mx.${name}`]: [{ A: '127.0.0.1' }] } : {}),
});

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-dmarcrpt-');

const message = (from: string, subject: string): string => `From: <${from}>\r\nTo: <postmaster@localhost>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@x>\r\nDate: Mon, 04 May 2026 12:00:00 +0000\r\n\r\nhello\r\n`;

/** The attachment of a report mail, gunzipped, and the parsed mail. */
async function reportOf(m: SinkMessage): Promise<{ xml: string; filename: string; contentType: string; subject: string; from: string }> {
  const parsed = await PostalMime.parse(m.raw);
  const att = parsed.attachments[0];
  assert.ok(att, 'a report attachment');
  return { xml: gunzipSync(Buffer.from(att.content as ArrayBuffer)).toString('utf8'), filename: att.filename ?? '', contentType: att.mimeType, subject: parsed.subject ?? '', from: parsed.from?.address ?? '' };
}

/** The records of a report XML, each as a flat string of its elements, sorted. */
const recordsOf = (xml: string): string[] => [...xml.matchAll(/<record>(.*?)<\/record>/gs)].map((m) => (m[1] ?? '').replace(/\s+/g, '')).sort();
const tag = (xml: string, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];

test('DMARC pass and fail from one domain: counted across a restart, the next day a gzipped XML report goes to the rua', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const sink = await startSink();
  t.after(() => sink.close());
  const key = await keygen(dir, 'sender.example', 's1');
  const zones = {
    ...domain('sender.example', 'ip4:127.0.0.1 -all', true),
    ...domain('other.example', '~all'),
    '_dmarc.sender.example': [{ TXT: 'v=DMARC1; p=reject; rua=mailto:dmarc@sender.example' }],
    ...domain('q.example', 'ip4:192.0.2.1 ~all'),
    // q.example's reports go to sender.example, which consents (RFC 7489 §7.1)
    '_dmarc.q.example': [{ TXT: 'v=DMARC1; p=quarantine; adkim=s; pct=50; rua=mailto:dmarc@sender.example' }],
    'q.example._report._dmarc.sender.example': [{ TXT: 'v=DMARC1;' }],
    [key.name]: [{ TXT: key.record }],
  };
  const config = { smtp: { trusted_networks: [] }, outbound: { port: sink.port }, dmarc_reports: { enabled: true, org_name: 'Test Org', email: 'dmarc-reports@test.example' } };
  const clock = new ManualClock(Date.parse('2026-05-04T12:00:00Z'));
  const first = await startGateway(t, config, { zones, clock, dataDir });
  const privateKey = readFileSync(key.file, 'utf8');
  const signed = async (raw: string): Promise<string> => {
    const signature = { signingDomain: 'sender.example', selector: 's1', privateKey };
    // mailauth signs what signatureData lists (the top-level fields only satisfy its type)
    const r = await dkimSign(raw, { ...signature, signatureData: [signature] });
    assert.ok(r.signatures, 'signed');
    return `${r.signatures}${raw}`;
  };
  // two passes (SPF and DKIM aligned), one fail rejected by p=reject, one fail under p=quarantine (delivered to Junk)
  for (const n of [1, 2]) assert.equal((await sendMessage(first.smtpPort, 'alice@sender.example', ['postmaster@localhost'], await signed(message('alice@sender.example', `pass ${n}`)))).data?.code, 250);
  assert.equal((await sendMessage(first.smtpPort, 'bounce@other.example', ['postmaster@localhost'], message('ceo@sender.example', 'spoof'))).data?.code, 550);
  assert.equal((await sendMessage(first.smtpPort, 'x@other.example', ['postmaster@localhost'], message('news@q.example', 'junk'))).data?.code, 250);
  // no report is counted for a report itself (the loop guard), whatever its From domain's record
  const rpt = `From: <dmarc@sender.example>\r\nTo: <postmaster@localhost>\r\nSubject: Report Domain: x.example Submitter: sender.example Report-ID: <1>\r\n\r\nr\r\n`;
  assert.equal((await sendMessage(first.smtpPort, 'alice@sender.example', ['postmaster@localhost'], await signed(rpt))).data?.code, 250);
  await first.app.stop(2000);
  const file = path.join(dataDir, 'dmarc-reports.json');
  assert.equal(statSync(file).mode & 0o777, 0o600, 'counters saved with mode 0600');
  assert.equal(sink.messages.length, 0, 'nothing sent the same day');

  clock.set(Date.parse('2026-05-05T06:00:00Z'));
  const second = await startGateway(t, config, { zones, clock, dataDir });
  await sink.waitForMessages(2, 10_000);
  assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['dmarc@sender.example'], ['dmarc@sender.example']]);
  assert.deepEqual(sink.messages.map((m) => m.mailFrom), ['', '']);
  const reports = await Promise.all(sink.messages.map(reportOf));
  const main = reports.find((r) => r.xml.includes('<domain>sender.example</domain></policy_published>') || /<policy_published><domain>sender.example</.test(r.xml));
  assert.ok(main, 'a report about sender.example');
  const begin = Date.parse('2026-05-04T00:00:00Z') / 1000;
  assert.equal(main.filename, `mx.test.example!sender.example!${begin}!${begin + 86_399}.xml.gz`);
  assert.equal(main.contentType, 'application/gzip');
  assert.equal(main.from, 'dmarc-reports@test.example');
  const reportId = tag(main.xml, 'report_id') ?? '';
  assert.equal(main.subject, `Report Domain: sender.example Submitter: mx.test.example Report-ID: <${reportId}>`);
  assert.equal(tag(main.xml, 'org_name'), 'Test Org');
  assert.equal(tag(main.xml, 'email'), 'dmarc-reports@test.example');
  assert.equal(tag(main.xml, 'begin'), String(begin));
  assert.equal(tag(main.xml, 'end'), String(begin + 86_399));
  assert.match(main.xml, /<policy_published><domain>sender\.example<\/domain><adkim>r<\/adkim><aspf>r<\/aspf><p>reject<\/p><sp>reject<\/sp><pct>100<\/pct><\/policy_published>/);
  assert.deepEqual(recordsOf(main.xml), [
    '<row><source_ip>127.0.0.1</source_ip><count>1</count><policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers><envelope_from>other.example</envelope_from><header_from>sender.example</header_from></identifiers><auth_results><spf><domain>other.example</domain><scope>mfrom</scope><result>softfail</result></spf></auth_results>',
    '<row><source_ip>127.0.0.1</source_ip><count>2</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers><envelope_from>sender.example</envelope_from><header_from>sender.example</header_from></identifiers><auth_results><dkim><domain>sender.example</domain><selector>s1</selector><result>pass</result></dkim><spf><domain>sender.example</domain><scope>mfrom</scope><result>pass</result></spf></auth_results>',
  ]);
  const q = reports.find((r) => r !== main);
  assert.ok(q);
  assert.match(q.xml, /<policy_published><domain>q\.example<\/domain><adkim>s<\/adkim><aspf>r<\/aspf><p>quarantine<\/p><sp>quarantine<\/sp><pct>50<\/pct><\/policy_published>/);
  assert.deepEqual(recordsOf(q.xml).map((r) => /<disposition>(\w+)<\/disposition><dkim>(\w+)<\/dkim><spf>(\w+)<\/spf>.*<result>(\w+)<\/result>/.exec(r)?.slice(1)), [['quarantine', 'fail', 'fail', 'softfail']]);
  const metrics = await (await fetch(`http://127.0.0.1:${second.httpPort ?? 0}/metrics`)).text();
  assert.match(metrics, /^spamgate_dmarc_reports_total\{result="sent"\} 2$/m);
});

test('an external rua gets the report only with its authorisation record (RFC 7489 §7.1); no rua, or a size limit too small: nothing', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const sink = await startSink();
  t.after(() => sink.close());
  const zones = {
    ...domain('reports.example', '-all', true),
    '_dmarc.ext.example': [{ TXT: 'v=DMARC1; p=none; rua=mailto:agg@reports.example' }],
    '_dmarc.auth.example': [{ TXT: 'v=DMARC1; p=none; rua=mailto:agg@reports.example' }],
    'auth.example._report._dmarc.reports.example': [{ TXT: 'v=DMARC1' }],
    '_dmarc.norua.example': [{ TXT: 'v=DMARC1; p=none' }],
    '_dmarc.big.example': [{ TXT: 'v=DMARC1; p=none; rua=mailto:agg@big.example!1k' }],
    ...domain('ext.example', 'ip4:127.0.0.1 -all'),
    ...domain('auth.example', 'ip4:127.0.0.1 -all'),
    ...domain('norua.example', 'ip4:127.0.0.1 -all'),
    ...domain('big.example', 'ip4:127.0.0.1 -all', true),
  };
  const config = { smtp: { trusted_networks: [] }, outbound: { port: sink.port }, dmarc_reports: { enabled: true } };
  const clock = new ManualClock(Date.parse('2026-05-04T23:00:00Z'));
  const gw = await startGateway(t, config, { zones, clock, dataDir });
  for (const d of ['ext.example', 'auth.example', 'norua.example', 'big.example']) {
    assert.equal((await sendMessage(gw.smtpPort, `a@${d}`, ['postmaster@localhost'], message(`a@${d}`, `from ${d}`))).data?.code, 250);
  }
  await gw.app.stop(2000);
  // the reports of the day go at the first start after the day ended (plus the random delay, at most four hours)
  clock.set(Date.parse('2026-05-05T05:00:00Z'));
  const next = await startGateway(t, config, { zones, clock, dataDir });
  await sink.waitForMessages(1, 10_000);
  const metricsUrl = `http://127.0.0.1:${next.httpPort ?? 0}/metrics`;
  let metrics = '';
  for (let i = 0; i < 100 && !/dmarc_reports_total\{result="(no_rua|failed|external_unverified)"\} 1(.|\n)*(no_rua|failed|external_unverified)"\} 1(.|\n)*(no_rua|failed|external_unverified)"\} 1/.test(metrics); i++) {
    if (i) await new Promise((resolve) => setTimeout(resolve, 50));
    metrics = await (await fetch(metricsUrl)).text();
  }
  assert.match(metrics, /^spamgate_dmarc_reports_total\{result="sent"\} 1$/m);
  assert.match(metrics, /^spamgate_dmarc_reports_total\{result="external_unverified"\} 1$/m);
  assert.match(metrics, /^spamgate_dmarc_reports_total\{result="no_rua"\} 1$/m);
  assert.match(metrics, /^spamgate_dmarc_reports_total\{result="failed"\} 1$/m, 'the report over the !1k limit is not sent');
  await next.app.stop(2000);
  assert.equal(sink.messages.length, 1);
  assert.deepEqual(sink.messages[0]?.rcptTo, ['agg@reports.example']);
  const r = await reportOf(sink.messages[0] as SinkMessage);
  assert.match(r.xml, /<policy_published><domain>auth\.example<\/domain>/);
});

test('front-of mode: the report goes to delivery.upstream, which relays it out', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const upstream = await startSink();
  t.after(() => upstream.close());
  const zones = {
    ...domain('sender.example', 'ip4:127.0.0.1 -all'),
    '_dmarc.sender.example': [{ TXT: 'v=DMARC1; p=none; rua=mailto:dmarc@sender.example' }],
  };
  const config = {
    mode: 'front-of',
    local_domains: ['relay.example'],
    delivery: { upstream: { host: '127.0.0.1', port: upstream.port } },
    smtp: { trusted_networks: [] },
    dmarc_reports: { enabled: true },
  };
  const clock = new ManualClock(Date.parse('2026-05-04T12:00:00Z'));
  const first = await startGateway(t, config, { zones, clock, dataDir });
  assert.equal((await sendMessage(first.smtpPort, 'a@sender.example', ['user@relay.example'], message('a@sender.example', 'hello'))).data?.code, 250);
  await upstream.waitForMessages(1);
  await first.app.stop(2000);
  clock.set(Date.parse('2026-05-05T06:00:00Z'));
  await startGateway(t, config, { zones, clock, dataDir });
  await upstream.waitForMessages(2, 10_000);
  const report = upstream.messages[1] as SinkMessage;
  assert.deepEqual(report.rcptTo, ['dmarc@sender.example']);
  assert.equal(report.mailFrom, '');
  const r = await reportOf(report);
  assert.equal(r.from, 'dmarc-noreply@mx.test.example');
  assert.deepEqual(recordsOf(r.xml).map((x) => /<count>(\d+)<\/count><policy_evaluated><disposition>(\w+)<\/disposition><dkim>(\w+)<\/dkim><spf>(\w+)<\/spf>/.exec(x)?.slice(1)), [['1', 'none', 'fail', 'pass']]);
});
