// The HTTP endpoint of a running gateway: /metrics in Prometheus text and, on request, OpenMetrics;
// /healthz and /readyz while serving and while draining; one registry per app.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

test('/metrics: Prometheus text by default, OpenMetrics on Accept; /healthz; /readyz; 404 and 405', async (t) => {
  const gw = await startGateway(t, { log_level: 'warn' });
  const base = `http://127.0.0.1:${gw.httpPort}`;
  const sent = await sendMessage(gw.smtpPort, 'someone@example.org', ['postmaster@localhost'], 'Subject: hi\r\n\r\nhello\r\n');
  assert.equal(sent.data?.code, 250);

  const om = await get(`${base}/metrics`, { accept: 'application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5' });
  assert.equal(om.status, 200);
  assert.match(om.type, /^application\/openmetrics-text; version=1\.0\.0/);
  assert.match(om.body, /^# TYPE spamgate_smtp_connections counter$/m, 'OpenMetrics names the counter family without _total');
  assert.match(om.body, /^spamgate_smtp_connections_total\{listener="smtp",result="accepted"\} 1$/m);
  assert.match(om.body, /# EOF\n$/);

  // After an OpenMetrics scrape the text format still names counters with _total.
  const text = await get(`${base}/metrics`);
  assert.equal(text.status, 200);
  assert.match(text.type, /^text\/plain; version=0\.0\.4/);
  assert.match(text.body, /^# HELP spamgate_smtp_connections_total /m);
  assert.match(text.body, /^# TYPE spamgate_smtp_connections_total counter$/m);
  assert.match(text.body, /^spamgate_smtp_transactions_total\{listener="smtp",action="[a-z_]+"\} 1$/m);
  assert.match(text.body, /^spamgate_process_cpu_seconds_total /m, 'default process metrics, prefixed');
  assert.doesNotMatch(text.body, /^(?:# TYPE )?(?!spamgate_)[a-z]/m, 'every family is spamgate_');

  const health = await get(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.match(health.type, /^application\/json/);
  const report = JSON.parse(health.body) as { ok: boolean; draining: boolean; queue: { ok: boolean }; listeners: Record<string, string> };
  assert.equal(report.ok, true);
  assert.equal(report.draining, false);
  assert.equal(report.queue.ok, true);
  assert.equal(report.listeners.smtp, `127.0.0.1:${gw.smtpPort}`);

  const ready = await get(`${base}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(JSON.parse(ready.body), { ready: true });

  assert.equal((await get(`${base}/nope`)).status, 404);
  assert.equal((await fetch(`${base}/metrics`, { method: 'POST', signal: AbortSignal.timeout(5000) })).status, 405);
});

test('two apps in one process keep separate registries', async (t) => {
  const a = await startGateway(t, { log_level: 'warn' });
  const b = await startGateway(t, { log_level: 'warn' });
  assert.notEqual(a.app.registry, b.app.registry);
  assert.equal((await sendMessage(a.smtpPort, 'x@example.org', ['postmaster@localhost'], 'Subject: a\r\n\r\na\r\n')).data?.code, 250);
  const count = async (port: number | undefined): Promise<string | undefined> =>
    /^spamgate_smtp_connections_total\{listener="smtp",result="accepted"\} (\d+)$/m.exec((await get(`http://127.0.0.1:${port}/metrics`)).body)?.[1];
  assert.equal(await count(a.httpPort), '1');
  assert.equal(await count(b.httpPort), undefined, 'no connection counted on the other app');
});

test('draining: /readyz and /healthz answer 503 while sessions finish', async (t) => {
  const gw = await startGateway(t, { log_level: 'warn' });
  const base = `http://127.0.0.1:${gw.httpPort}`;
  assert.equal((await get(`${base}/readyz`)).status, 200);
  // An open SMTP session keeps the drain going until it ends or the deadline passes.
  const { wire } = await SmtpWire.open(gw.smtpPort);
  const stopping = gw.app.stop(3000);
  try {
    const ready = await get(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.body), { ready: false });
    const health = await get(`${base}/healthz`);
    assert.equal(health.status, 503);
    assert.equal((JSON.parse(health.body) as { draining: boolean }).draining, true);
  } finally {
    wire.close();
    await stopping;
  }
});
