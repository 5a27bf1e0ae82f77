// The next-hop client's STARTTLS: plain text a server (or a man in the middle) sends after the 220 is
// never read as a reply over TLS (RFC 3207 §4.2, STARTTLS response injection).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NextHopClient } from '../../../src/smtp/next-hop-client.ts';
import { NextHopConnectionError } from '../../../src/smtp/next-hop-wire.ts';
import { startScriptedSmtp, type ScriptedSmtp } from '../../helpers/scripted-smtp.ts';

/** A plain-text server that answers STARTTLS with `afterStarttls`, then waits for a TLS handshake that never comes. */
function fakeServer(afterStarttls: string): Promise<ScriptedSmtp> {
  return startScriptedSmtp('220 fake ESMTP', (line, sock) => {
    if (/^EHLO/i.test(line)) sock.write('250-fake\r\n250 STARTTLS\r\n');
    else if (line === 'STARTTLS') sock.write(afterStarttls);
    else if (line === 'QUIT') sock.end('221 bye\r\n');
  });
}

const connect = (port: number) => NextHopClient.connect({ host: '127.0.0.1', port, heloName: 'gw.test', connectTimeout: 2000, commandTimeout: 2000, starttls: 'require', tlsVerify: false });

test('a reply injected after the 220 to STARTTLS ends the connection before TLS starts', async (t) => {
  const server = await fakeServer('220 go ahead\r\n250 INJECTED-BEFORE-TLS\r\n');
  t.after(() => server.close());
  await assert.rejects(connect(server.port), (err: unknown) => err instanceof NextHopConnectionError && /plain-text data after the 220 reply to STARTTLS/.test(err.message));
});

test('without injected data the client goes on to the TLS handshake (here: times out on a server that never answers it)', async (t) => {
  const server = await fakeServer('220 go ahead\r\n');
  t.after(() => server.close());
  await assert.rejects(connect(server.port), (err: unknown) => err instanceof Error && !/plain-text data/.test(err.message));
});
