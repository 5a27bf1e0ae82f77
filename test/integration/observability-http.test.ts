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
  // A session in a transaction keeps the drain going until it ends or the deadline passes; an idle one
  // is told 421 at once, and the busy one gets 421 at its next MAIL.
  const { wire } = await SmtpWire.open(gw.smtpPort);
  const { wire: idle } = await SmtpWire.open(gw.smtpPort);
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  assert.equal((await idle.command('EHLO client.test.example')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  const stopping = gw.app.stop(3000);
  try {
    assert.equal((await idle.read()).code, 421, 'between transactions: closed at once');
    const ready = await get(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.body), { ready: false, reasons: ['draining'] });
    const health = await get(`${base}/healthz`);
    assert.equal(health.status, 503);
    assert.equal((JSON.parse(health.body) as { draining: boolean }).draining, true);
    assert.equal((await wire.command('DATA')).code, 354);
    assert.equal((await wire.command('Subject: last\r\n\r\nfinished while draining\r\n.')).code, 250, 'the transaction under way finishes');
    const next = await wire.command('MAIL FROM:<a@remote.example>');
    assert.equal(next.code, 421, 'no new transaction once draining');
  } finally {
    wire.close();
    idle.close();
    await stopping;
  }
});

test('idle connections cannot lock out scrapes: one address holds at most 32, and silent ones are closed', async (t) => {
  const gw = await startGateway(t);
  const port = gw.httpPort ?? 0;
  const { connect } = await import('node:net');
  const idle = await Promise.all(Array.from({ length: 40 }, () => new Promise<import('node:net').Socket>((resolve) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.3' }, () => resolve(s));
    s.on('error', () => undefined);
  })));
  t.after(() => idle.forEach((s) => s.destroy()));
  const closed = (): number => idle.filter((s) => s.destroyed || s.readyState === 'closed').length;
  const until = Date.now() + 3000;
  while (closed() < 8 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.ok(closed() >= 8, `beyond 32 from one address are closed at once (closed ${closed()})`);
  // a scrape from elsewhere is served meanwhile
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  await res.text();
  // and a connection that sends nothing is closed within seconds (5 s for its headers, checked every second),
  // not after Node's defaults (60 s, checked every 30 s); 25 s leaves room for a loaded machine
  const later = Date.now() + 25_000;
  while (closed() < 40 && Date.now() < later) await new Promise((r) => setTimeout(r, 100));
  assert.equal(closed(), 40);
});

test('http.allow: a client outside the list is closed at once and takes no slot; one inside is served', async (t) => {
  const gw = await startGateway(t, { http: { allow: ['127.0.0.2/32'] }, log_level: 'warn' });
  const port = gw.httpPort ?? 0;
  const { connect } = await import('node:net');
  /** One GET /metrics from `from`: the status line, or 'closed' if the server closes without answering. */
  const request = (from: string): Promise<string> =>
    new Promise((resolve) => {
      const s = connect({ port, host: '127.0.0.1', localAddress: from }, () => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      t.after(() => s.destroy());
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => resolve(got ? (got.split('\r\n')[0] ?? '') : 'closed'));
    });
  assert.equal(await request('127.0.0.1'), 'closed');
  // past the per-address (32) and global caps in number: refused ones hold nothing
  const refused = await Promise.all(Array.from({ length: 40 }, () => request('127.0.0.1')));
  assert.deepEqual(new Set(refused), new Set(['closed']));
  assert.equal(await request('127.0.0.2'), 'HTTP/1.1 200 OK');
});
