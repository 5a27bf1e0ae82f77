// TLS reports (RFC 8460) in a running spamgate (full-stack): a message relayed from a trusted client to a remote
// domain whose MX offers no STARTTLS is counted; after a restart on the next UTC day the report is queued on the
// spool, DKIM-signed with the key of the submitter's domain and delivered from <> to the rua's MX (the sink).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import PostalMime from 'postal-mime';
import { ManualClock } from '../../src/util/clock.ts';
import { keygen, verifierAt } from '../helpers/dkim-keys.ts';
import { startGateway } from '../helpers/gateway.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { tempDir as makeTempDir } from '../helpers/temp-dir.ts';

const mx = (name: string) => ({ [name]: [{ MX: [10, `mx.${name}`] as [number, string] }], [`mx.${name}`]: [{ A: '127.0.0.1' }] });

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-tlsrpt-gw-');

test('a running gateway counts its MX sessions and, the next day after a restart, queues a DKIM-signed report to the rua', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const sink = await startSink();
  t.after(() => sink.close());
  const key = await keygen(dir, 'test.example', 'rpt');
  const zones = {
    ...mx('remote.example'),
    ...mx('reports.example'),
    '_smtp._tls.remote.example': [{ TXT: 'v=TLSRPTv1; rua=mailto:tls@reports.example' }],
    [key.name]: [{ TXT: key.record }],
  };
  const config = {
    outbound: { port: sink.port, tls_reports: { enabled: true, organization_name: 'Test Org' } },
    dkim: { sign: [{ domain: 'test.example', selector: 'rpt', key: key.file }] },
  };
  const clock = new ManualClock(Date.parse('2026-05-04T12:00:00Z'));
  const first = await startGateway(t, config, { zones, clock, dataDir });
  const sent = await sendMessage(first.smtpPort, 'alice@localhost', ['bob@remote.example'], 'From: <alice@localhost>\r\nTo: <bob@remote.example>\r\nSubject: hi\r\n\r\nhello\r\n');
  assert.equal(sent.data?.code, 250);
  await sink.waitForMessages(1);
  await first.app.stop(2000);

  clock.set(Date.parse('2026-05-05T06:00:00Z'));
  const second = await startGateway(t, config, { zones, clock, dataDir });
  await sink.waitForMessages(2, 10_000);
  const report = sink.messages[1];
  assert.ok(report);
  assert.deepEqual(report.rcptTo, ['tls@reports.example']);
  assert.equal(report.mailFrom, '');
  const parsed = await PostalMime.parse(report.raw);
  const header = (name: string): string | undefined => parsed.headers.find((h) => h.key === name)?.value;
  assert.equal(header('tls-report-domain'), 'remote.example');
  assert.equal(header('tls-report-submitter'), 'mx.test.example');
  assert.equal(header('from'), '<tlsrpt-noreply@mx.test.example>');
  assert.deepEqual((await verifierAt(second.dns.server)(report.raw)).map((r) => `${r.result} ${r.domain}/${r.selector}`), ['pass test.example/rpt'], 'DKIM-signed by the reporting domain (RFC 8460 §5.3)');
  const att = parsed.attachments[0];
  assert.ok(att);
  const json = JSON.parse(gunzipSync(Buffer.from(att.content as ArrayBuffer)).toString('utf8')) as Record<string, unknown>;
  assert.equal(json['organization-name'], 'Test Org');
  assert.deepEqual(json['date-range'], { 'start-datetime': '2026-05-04T00:00:00Z', 'end-datetime': '2026-05-04T23:59:59Z' });
  assert.deepEqual(json.policies, [
    {
      policy: { 'policy-type': 'no-policy-found', 'policy-domain': 'remote.example' },
      summary: { 'total-successful-session-count': 0, 'total-failure-session-count': 1 },
      'failure-details': [{ 'result-type': 'starttls-not-supported', 'sending-mta-ip': '127.0.0.1', 'receiving-mx-hostname': 'mx.remote.example', 'receiving-ip': '127.0.0.1', 'failed-session-count': 1 }],
    },
  ]);
  const metrics = await (await fetch(`http://127.0.0.1:${second.httpPort ?? 0}/metrics`)).text();
  assert.match(metrics, /^spamgate_tls_reports_total\{result="sent"\} 1$/m);
});
