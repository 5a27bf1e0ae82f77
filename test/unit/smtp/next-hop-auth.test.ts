// The client side of SMTP AUTH (next-hop-auth.ts) against scripted replies: the mechanism chosen, what goes
// on the wire, a further challenge cancelled, refusals as errors that carry the reply and no credentials.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackHost } from '../../../src/config/sections/relay.ts';
import type { NextHopReply } from '../../../src/queue/types.ts';
import { authenticate, authMechanismsOf, isLoopbackAddress } from '../../../src/smtp/next-hop-auth.ts';
import { NextHopConnectionError } from '../../../src/smtp/next-hop-wire.ts';

/** A command function answering from a script, recording the lines sent. */
function scripted(replies: NextHopReply[]): { sent: string[]; command: (line: string) => Promise<NextHopReply> } {
  const sent: string[] = [];
  return {
    sent,
    command: async (line) => {
      sent.push(line);
      const r = replies.shift();
      if (!r) throw new Error(`no reply scripted for ${line}`);
      return r;
    },
  };
}

const creds = { username: 'user@example.org', password: 'pa ss\u00e9' };
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

test('PLAIN when offered, with the initial response (RFC 4954 §4, RFC 4616 §2)', async () => {
  const s = scripted([{ code: 235, enhanced: '2.7.0', text: 'ok' }]);
  await authenticate(s.command, new Set(['LOGIN', 'PLAIN']), creds);
  assert.deepEqual(s.sent, [`AUTH PLAIN ${b64('\u0000user@example.org\u0000pa ss\u00e9')}`]);
});

test('LOGIN when PLAIN is not offered; a further challenge is cancelled with "*"', async () => {
  const s = scripted([{ code: 334, text: 'VXNlcm5hbWU6' }, { code: 334, text: 'UGFzc3dvcmQ6' }, { code: 235, text: 'ok' }]);
  await authenticate(s.command, new Set(['LOGIN']), creds);
  assert.deepEqual(s.sent, ['AUTH LOGIN', b64(creds.username), b64(creds.password)]);
  const more = scripted([{ code: 334, text: '' }, { code: 334, text: '' }, { code: 334, text: 'more?' }, { code: 501, enhanced: '5.7.0', text: 'cancelled' }]);
  await assert.rejects(authenticate(more.command, new Set(['LOGIN']), creds), /authentication \(LOGIN\) refused: 501 5\.7\.0 cancelled/);
  assert.equal(more.sent.at(-1), '*');
});

test('a refusal is an auth failure carrying the reply, never the credentials; no usable mechanism sends nothing', async () => {
  for (const code of [535, 534, 538, 454]) {
    const s = scripted([{ code, enhanced: `${String(code)[0]}.7.8`, text: 'no' }]);
    const err = await authenticate(s.command, new Set(['PLAIN']), creds).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof NextHopConnectionError && err.authFailure, String(code));
    assert.equal(err.reply?.code, code);
    assert.ok(!err.message.includes(creds.password) && !err.message.includes(b64(`\u0000${creds.username}\u0000${creds.password}`)));
  }
  const none = scripted([]);
  await assert.rejects(authenticate(none.command, new Set(['CRAM-MD5', 'XOAUTH2']), creds), /offers no AUTH mechanism spamgate speaks \(PLAIN, LOGIN\); it offers CRAM-MD5 XOAUTH2/);
  assert.deepEqual(none.sent, []);
});

test('EHLO AUTH lines, standard and pre-standard; loopback names and addresses', () => {
  assert.deepEqual(authMechanismsOf('AUTH', ['PLAIN', 'LOGIN']), ['PLAIN', 'LOGIN']);
  assert.deepEqual(authMechanismsOf('AUTH=PLAIN', ['LOGIN']), ['PLAIN', 'LOGIN']);
  assert.equal(authMechanismsOf('AUTHX', []), undefined);
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopbackAddress(a), a);
  for (const a of ['192.0.2.1', '::ffff:192.0.2.1', 'fe80::1', undefined]) assert.ok(!isLoopbackAddress(a), String(a));
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['smtp.provider.example', '192.0.2.1', 'localhost.example.com']) assert.ok(!isLoopbackHost(h), h);
});

test('a refusal that echoes what was sent (the credentials, plain or base64) does not carry them on into the error', async () => {
  const plainLine = b64(`\u0000${creds.username}\u0000${creds.password}`);
  const s = scripted([{ code: 500, enhanced: '5.5.1', text: `Command unrecognized: "AUTH PLAIN ${plainLine}" (${creds.password})` }]);
  const err = await authenticate(s.command, new Set(['PLAIN']), creds).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof NextHopConnectionError && err.authFailure);
  for (const secret of [plainLine, creds.password]) {
    assert.ok(!err.message.includes(secret), err.message);
    assert.ok(!(err.reply?.text ?? '').includes(secret), err.reply?.text);
  }
  assert.match(err.message, /500 5\.5\.1 Command unrecognized/);
  const login = scripted([{ code: 334, text: 'VXNlcm5hbWU6' }, { code: 334, text: 'UGFzc3dvcmQ6' }, { code: 535, enhanced: '5.7.8', text: `bad password ${b64(creds.password)}` }]);
  const err2 = await authenticate(login.command, new Set(['LOGIN']), creds).then(() => undefined, (e: unknown) => e);
  assert.ok(err2 instanceof NextHopConnectionError);
  assert.ok(!err2.message.includes(b64(creds.password)) && !(err2.reply?.text ?? '').includes(b64(creds.password)), err2.message);
});
