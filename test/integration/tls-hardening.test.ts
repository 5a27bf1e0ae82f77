// Server TLS over real sockets: a TLS 1.2 client's renegotiation is refused with a no_renegotiation alert (SMTP
// and IMAP STARTTLS, POP3 STLS), and SMTP's STARTTLS no longer speaks TLS 1.0/1.1 (smtp-server's default).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';

interface Upgrade {
  greeting: RegExp;
  command: string;
  ready: RegExp;
  /** A command to show the TLS session works, and the start of its answer. */
  probe: string;
  answer: RegExp;
}

const PROTOCOLS: Record<'smtp' | 'pop3' | 'imap', Upgrade> = {
  smtp: { greeting: /^220 .*\r\n/, command: 'EHLO c.test.example\r\nSTARTTLS', ready: /^220 .*Ready to start TLS\r\n/m, probe: 'EHLO c.test.example', answer: /^250 /m },
  pop3: { greeting: /^\+OK .*\r\n/, command: 'STLS', ready: /^\+OK .*\r\n/, probe: 'CAPA', answer: /^\+OK/ },
  imap: { greeting: /^\* OK .*\r\n/, command: 'a STARTTLS', ready: /^a OK .*\r\n/, probe: 'b CAPABILITY', answer: /^b OK/m },
};

function portOf(gw: RunningGateway, p: keyof typeof PROTOCOLS): number {
  return (p === 'smtp' ? gw.smtpPort : p === 'pop3' ? gw.pop3Port : gw.imapPort) ?? 0;
}

/** Connects, asks for TLS the protocol's way, and hands over the plain socket ready for the handshake. */
async function plainUntilTls(port: number, u: Upgrade): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  const onData = (d: string): void => void (text += d);
  socket.on('data', onData);
  const until = async (re: RegExp): Promise<void> => {
    while (!re.test(text)) await once(socket, 'data');
  };
  await until(u.greeting);
  text = '';
  socket.write(`${u.command}\r\n`);
  await until(u.ready);
  socket.off('data', onData);
  return socket;
}

/** Reads from a TLS socket until `re` matches the text so far. */
async function readUntil(s: tls.TLSSocket, re: RegExp): Promise<string> {
  let text = '';
  for (;;) {
    const [chunk] = (await once(s, 'data')) as [Buffer];
    text += chunk.toString('latin1');
    if (re.test(text)) return text;
  }
}

for (const protocol of ['pop3', 'imap', 'smtp'] as const) {
  test(`${protocol}: a TLS 1.2 renegotiation is refused`, async (t) => {
    const gw = await startGateway(t, { smtp: { tls: selfSignedCert(t) } });
    const u = PROTOCOLS[protocol];
    const socket = await plainUntilTls(portOf(gw, protocol), u);
    const secure = tls.connect({ socket, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    t.after(() => secure.destroy());
    secure.on('error', () => undefined);
    await once(secure, 'secureConnect');
    assert.equal(secure.getProtocol(), 'TLSv1.2');
    secure.write(`${u.probe}\r\n`);
    assert.match(await readUntil(secure, u.answer), u.answer, 'the TLS session works');
    // A refused renegotiation shows as an 'error' on the socket (the callback is not called then).
    const err = await new Promise<Error | null>((resolve) => {
      secure.once('error', resolve);
      const started = secure.renegotiate({ rejectUnauthorized: false }, resolve);
      if (!started) resolve(new Error('renegotiation could not start'));
    });
    // The server answers the new ClientHello with a no_renegotiation alert: no second handshake is done.
    assert.match(String(err?.message), /no renegotiation/i);
  });
}

test('smtp: STARTTLS offers no TLS 1.0 or 1.1 (a protocol version alert, whatever the client allows)', async (t) => {
  const gw = await startGateway(t, { smtp: { tls: selfSignedCert(t) } });
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    const socket = await plainUntilTls(gw.smtpPort, PROTOCOLS.smtp);
    const secure = tls.connect({ socket, rejectUnauthorized: false, minVersion: version, maxVersion: version, ciphers: 'DEFAULT:@SECLEVEL=0' });
    const [err] = (await once(secure, 'error').catch((e: unknown) => [e])) as [Error];
    secure.destroy();
    assert.match(String(err.message), /protocol version/i, `${version}: ${err.message}`);
  }
});
