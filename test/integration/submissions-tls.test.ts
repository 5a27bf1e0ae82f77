// Submission over implicit TLS (submission.tls_listen, RFC 8314 §3.3): the TLS handshake comes first and the
// greeting over it; python's smtplib.SMTP_SSL logs in and sends to a local mailbox; AUTH stays required; a
// client that speaks plain SMTP to the port is dropped without harm; the listener needs a certificate.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { loadConfig } from '../../src/config/load.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { runPython } from '../helpers/python.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';

const inbox = (gw: RunningGateway): string[] => maildirMessages(gw.dataDir);

test('smtplib.SMTP_SSL: TLS first, no STARTTLS offered, AUTH required, then login and delivery', async (t) => {
  const gw = await startGateway(t, { smtp: { tls: selfSignedCert(t) }, submission: { tls_listen: { host: '127.0.0.1', port: 0 } } });
  assert.ok(gw.submissionsPort, 'the implicit-TLS listener is up');
  const result = await runPython<{ starttls: boolean; auth: boolean; cipher: string; unauth: number; login: number; sent: unknown }>(
    `
import json, smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL('127.0.0.1', int(sys.argv[1]), context=ctx, timeout=10)
s.ehlo('client.test.example')
out = {'starttls': s.has_extn('starttls'), 'auth': s.has_extn('auth'), 'cipher': s.sock.version()}
out['unauth'] = s.docmd('MAIL', 'FROM:<postmaster@localhost>')[0]
s.rset()
out['login'] = s.login('postmaster@localhost', sys.argv[2])[0]
out['sent'] = s.sendmail('postmaster@localhost', ['postmaster@localhost'], 'From: postmaster@localhost\\r\\nTo: postmaster@localhost\\r\\nSubject: over implicit TLS\\r\\n\\r\\nhello\\r\\n')
s.quit()
print(json.dumps(out))
`,
    [String(gw.submissionsPort), TEST_PASSWORD],
  );
  assert.equal(result.starttls, false, 'no STARTTLS inside TLS');
  assert.equal(result.auth, true);
  assert.match(result.cipher, /^TLSv1\.[23]$/);
  assert.equal(result.unauth, 530, 'submission: authentication required first');
  assert.equal(result.login, 235);
  assert.deepEqual(result.sent, {}, 'the recipient was accepted');
  const deadline = Date.now() + 10_000;
  while (!inbox(gw).some((m) => m.includes('Subject: over implicit TLS')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const delivered = inbox(gw).find((m) => m.includes('Subject: over implicit TLS'));
  assert.ok(delivered, 'delivered to the mailbox');
  assert.match(delivered, /with ESMTPSA/, 'Received says authenticated and over TLS (RFC 3848)');
});

test('a client that talks plain SMTP to the implicit-TLS port is dropped; the listener goes on serving', async (t) => {
  const gw = await startGateway(t, { smtp: { tls: selfSignedCert(t) }, submission: { tls_listen: { host: '127.0.0.1', port: 0 } } });
  const plain = net.connect(gw.submissionsPort ?? 0, '127.0.0.1');
  const received: Buffer[] = [];
  plain.on('data', (d: Buffer) => received.push(d));
  plain.write('EHLO client.test.example\r\n');
  await new Promise<void>((resolve) => plain.once('close', () => resolve()));
  assert.doesNotMatch(Buffer.concat(received).toString('latin1'), /^220 /, 'no greeting in clear');
  const again = await runPython<{ code: number }>(
    `
import json, smtplib, ssl, sys
ctx = ssl._create_unverified_context()
s = smtplib.SMTP_SSL('127.0.0.1', int(sys.argv[1]), context=ctx, timeout=10)
print(json.dumps({'code': s.ehlo('client.test.example')[0]}))
s.quit()
`,
    [String(gw.submissionsPort)],
  );
  assert.equal(again.code, 250);
});

test('behind a PROXY protocol proxy: the header, then the TLS handshake and the greeting; the session is the proxied client\'s', { timeout: 30_000 }, async (t) => {
  const gw = await startGateway(t, { smtp: { tls: selfSignedCert(t), proxy_protocol_from: ['127.0.0.1/32'] }, submission: { tls_listen: { host: '127.0.0.1', port: 0 } } });
  const raw = net.connect(gw.submissionsPort ?? 0, '127.0.0.1');
  t.after(() => raw.destroy());
  await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
  // the proxy's header and the client's ClientHello right behind it, as HAProxy sends them
  raw.write('PROXY TCP4 192.0.2.50 192.0.2.1 40000 465\r\n');
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
  let text = '';
  const lines = (re: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!re.test(text)) return;
        secure.off('data', onData);
        resolve();
      };
      const onData = (d: Buffer): void => {
        text += d.toString('latin1');
        check();
      };
      secure.on('data', onData);
      secure.once('error', reject);
      check();
    });
  await lines(/^220 /m);
  secure.write('EHLO client.test.example\r\n');
  await lines(/^250 /m);
  assert.match(text, /\[192\.0\.2\.50\]/, 'the session is the proxied client\'s');
  secure.end('QUIT\r\n');
});

/** Everything a TLS client hears on the implicit-TLS port until the connection ends (or the TLS error it gets). */
function hearOverTls(port: number): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (/^220 /m.test(text)) s.end('QUIT\r\n');
    });
    s.once('error', (err) => resolve({ text, error: err.message }));
    s.once('close', () => resolve({ text }));
  });
}

test('a client the listener refuses (connection limit) hears the 421 over TLS, not in clear inside the handshake', { timeout: 30_000 }, async (t) => {
  const gw = await startGateway(t, { smtp: { tls: selfSignedCert(t), max_connections_per_ip: 1 }, submission: { tls_listen: { host: '127.0.0.1', port: 0 } } });
  const port = gw.submissionsPort ?? 0;
  // the first connection takes the one place this address has
  const first = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  t.after(() => first.destroy());
  await new Promise<void>((resolve) => first.once('data', () => resolve()));
  const refused = await hearOverTls(port);
  assert.equal(refused.error, undefined, `TLS failed: ${refused.error ?? ''}`);
  assert.match(refused.text, /^421 \S+ 4\.7\.0 Too many connections/m);
  // the refused connection gave its place back, and so does the first one when it leaves
  await new Promise<void>((resolve) => {
    first.once('close', () => resolve());
    first.destroy();
  });
  let next = await hearOverTls(port);
  // the listener may not have seen the first one leave yet: it is told by the close of the socket
  for (let i = 0; i < 50 && /^421 /m.test(next.text); i++) next = await hearOverTls(port);
  assert.match(next.text, /^220 /m);
});

test('submission.tls_listen needs smtp.tls, and a port of its own', () => {
  assert.throws(() => loadConfig({ inline: { submission: { tls_listen: { port: 465 } } } }), /submission\.tls_listen: an implicit-TLS listener needs smtp\.tls\.cert and smtp\.tls\.key/);
  assert.throws(() => loadConfig({ inline: { submission: { listen: { port: 465 }, tls_listen: { port: 465 } } }, checkFiles: false }), /submission\.tls_listen\.port: port 465 is already used by submission\.listen/);
});

test('shutting down: a client still in its TLS handshake on the implicit-TLS port gets no 421 in clear, only the close', async (t) => {
  const gw = await startGateway(t, { smtp: { tls: selfSignedCert(t) }, submission: { tls_listen: { host: '127.0.0.1', port: 0 } } });
  const silent = net.connect(gw.submissionsPort ?? 0, '127.0.0.1');
  const received: Buffer[] = [];
  silent.on('data', (d: Buffer) => received.push(d));
  const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
  await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
  // the listener hands the connection over at once (no greet delay on submission); smtp-server then waits for a
  // ClientHello that never comes
  await new Promise((r) => setTimeout(r, 200));
  await gw.app.stop(300);
  await closed;
  assert.equal(Buffer.concat(received).toString('latin1'), '', 'nothing written in clear on a TLS port');
});
