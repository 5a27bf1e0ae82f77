// Connections refused before any session (server-wide cap, per-address cap, a missing PROXY header) are
// counted: SMTP in spamgate_smtp_connections_total{result}, POP3 and IMAP in their
// *_connections_refused_total{reason}. Real sockets on loopback; 127.0.0.x source addresses stand for clients.
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';

/** Connects from `from`, optionally writes `send`, and resolves with the first line the server says (or '' if it just closes). */
function firstLine(t: TestContext, port: number, from: string, send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = net.connect({ port, host: '127.0.0.1', localAddress: from }, () => {
      if (send !== undefined) socket.write(send);
    });
    t.after(() => socket.destroy());
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\n')) resolve(got.split('\r\n')[0] ?? '');
    });
    socket.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve(got) : reject(err)));
  });
}

async function sample(gw: RunningGateway, series: string): Promise<number> {
  const text = await gw.app.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

test('refused at the listeners for the server-wide cap: counted per protocol', async (t) => {
  const gw = await startGateway(t, { smtp: { max_connections: 1 }, pop3: { max_connections: 1 }, imap: { max_connections: 1 }, log_level: 'warn' });
  assert.equal(await sample(gw, 'spamgate_smtp_connections_total{listener="smtp",result="too_many"}'), 0, 'the series exists before any refusal');
  assert.match(await firstLine(t, gw.smtpPort, '127.0.0.1'), /^220 /);
  assert.match(await firstLine(t, gw.smtpPort, '127.0.0.3'), /^421 .*Too many connections/);
  assert.equal(await sample(gw, 'spamgate_smtp_connections_total{listener="smtp",result="too_many"}'), 1);

  assert.match(await firstLine(t, gw.pop3Port ?? 0, '127.0.0.1'), /^\+OK/);
  assert.equal(await firstLine(t, gw.pop3Port ?? 0, '127.0.0.3'), '', 'closed by the server at once');
  assert.equal(await sample(gw, 'spamgate_pop3_connections_refused_total{reason="too_many"}'), 1);
  assert.equal(await sample(gw, 'spamgate_pop3_sessions_total'), 1);

  assert.match(await firstLine(t, gw.imapPort ?? 0, '127.0.0.1'), /^\* OK/);
  assert.match(await firstLine(t, gw.imapPort ?? 0, '127.0.0.3'), /^\* BYE Too many connections/);
  assert.equal(await sample(gw, 'spamgate_imap_connections_refused_total{reason="too_many"}'), 1);
  assert.equal(await sample(gw, 'spamgate_imap_sessions_total'), 1);
});

test('refused for the per-address cap and for a missing PROXY header: counted per protocol', async (t) => {
  const gw = await startGateway(t, {
    smtp: { max_connections_per_ip: 1, proxy_protocol_from: ['127.0.0.2/32'] },
    pop3: { max_connections_per_ip: 1 },
    imap: { max_connections_per_ip: 1 },
    log_level: 'warn',
  });
  assert.match(await firstLine(t, gw.smtpPort, '127.0.0.1'), /^220 /);
  assert.match(await firstLine(t, gw.smtpPort, '127.0.0.1'), /^421 .*Too many connections from 127\.0\.0\.1/);
  assert.match(await firstLine(t, gw.smtpPort, '127.0.0.2', 'EHLO not-a-proxy-header\r\n'), /^421 .*PROXY protocol header expected/);
  assert.equal(await sample(gw, 'spamgate_smtp_connections_total{listener="smtp",result="too_many_per_ip"}'), 1);
  assert.equal(await sample(gw, 'spamgate_smtp_connections_total{listener="smtp",result="proxy_error"}'), 1);
  assert.equal(await sample(gw, 'spamgate_smtp_connections_total{listener="smtp",result="accepted"}'), 1);

  assert.match(await firstLine(t, gw.pop3Port ?? 0, '127.0.0.1'), /^\+OK/);
  assert.match(await firstLine(t, gw.pop3Port ?? 0, '127.0.0.1'), /^-ERR .*too many connections from your address/);
  assert.equal(await sample(gw, 'spamgate_pop3_connections_refused_total{reason="too_many_per_ip"}'), 1);

  assert.match(await firstLine(t, gw.imapPort ?? 0, '127.0.0.1'), /^\* OK/);
  assert.match(await firstLine(t, gw.imapPort ?? 0, '127.0.0.1'), /^\* BYE Too many connections from your address/);
  assert.equal(await sample(gw, 'spamgate_imap_connections_refused_total{reason="too_many_per_ip"}'), 1);
});
