// SMTP AUTH throttling seen from clients off loopback (addresses given with the PROXY protocol, then
// STARTTLS and AUTH PLAIN): an IPv6 client is its network, the owner's login does not reset a guesser's
// budget, and an address the owner logged in from is not locked out by guesses from elsewhere.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { hashPassword } from '../../src/mailhost/password.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';
import { SmtpWire } from '../helpers/smtp-wire.ts';

const PASSWORD = 's3cret-pass';

async function start(t: TestContext, failures: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<RunningGateway> {
  return startGateway(t, {
    smtp: { trusted_networks: [], proxy_protocol_from: ['127.0.0.1/32'], tls: selfSignedCert(t), auth: { failures } },
    users: { 'alice@localhost': { password: await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 }) } },
    ...extra,
  });
}

/** One AUTH PLAIN as alice from `src` (PROXY TCP4/TCP6) over STARTTLS; the reply code. */
async function authFrom(gw: RunningGateway, src: string, password: string): Promise<number> {
  const wire = await SmtpWire.connect(gw.smtpPort);
  try {
    const family = src.includes(':') ? 'TCP6' : 'TCP4';
    wire.write(`PROXY ${family} ${src} ${family === 'TCP6' ? '2001:db8:ffff::1' : '192.0.2.1'} 40000 25\r\n`);
    assert.equal((await wire.read()).code, 220);
    await wire.command('EHLO client.example');
    assert.equal((await wire.command('STARTTLS')).code, 220);
    await wire.upgrade();
    await wire.command('EHLO client.example');
    return (await wire.command(`AUTH PLAIN ${Buffer.from(`\0alice@localhost\0${password}`).toString('base64')}`)).code;
  } finally {
    wire.close();
  }
}

test('AUTH failures per address count an IPv6 client as its network (limits.ipv6_prefix)', async (t) => {
  const gw = await start(t, { per_ip: { limit: 3, window: '15m' }, per_user: { limit: 100, window: '15m' } }, { limits: { ipv6_prefix: 48 } });
  const guesses = [];
  for (const src of ['2001:db8:1:1::1', '2001:db8:1:2::1', '2001:db8:1:3::1']) guesses.push(await authFrom(gw, src, 'wrong'));
  assert.deepEqual(guesses, [535, 535, 535]);
  assert.equal(await authFrom(gw, '2001:db8:1:4::1', PASSWORD), 454, 'a fresh address of the same /48 is refused unchecked');
  assert.equal(await authFrom(gw, '2001:db8:2::1', PASSWORD), 235, 'another /48 has its own budget');
});

test("the owner's login does not reset the failures a guesser made for the user from elsewhere", async (t) => {
  const gw = await start(t, { per_ip: { limit: 100, window: '15m' }, per_user: { limit: 3, window: '15m' } });
  assert.deepEqual([await authFrom(gw, '203.0.113.66', 'wrong'), await authFrom(gw, '203.0.113.66', 'wrong')], [535, 535]);
  assert.equal(await authFrom(gw, '198.51.100.1', PASSWORD), 235, 'the owner logs in');
  assert.equal(await authFrom(gw, '203.0.113.66', 'wrong'), 535);
  assert.equal(await authFrom(gw, '192.0.2.99', PASSWORD), 454, 'three failures for alice within the window: a new address is refused');
});

test('an address the owner logged in from is not locked out by guesses from elsewhere', async (t) => {
  const gw = await start(t, { per_ip: { limit: 100, window: '15m' }, per_user: { limit: 3, window: '15m' } });
  assert.equal(await authFrom(gw, '198.51.100.1', PASSWORD), 235);
  for (const src of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) assert.equal(await authFrom(gw, src, 'wrong'), 535);
  assert.equal(await authFrom(gw, '192.0.2.99', PASSWORD), 454, 'a new address is refused');
  assert.equal(await authFrom(gw, '198.51.100.1', PASSWORD), 235, "the owner's address still gets in");
});
