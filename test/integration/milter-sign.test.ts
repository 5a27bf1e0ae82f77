// Outbound signing in milter mode over a real socket, a milter client playing the MTA: our own mail (an
// {auth_authen} sender or a trusted network) gets a DKIM-Signature on top (SMFIR_INSHEADER index 0) that verifies
// with mailauth against the test DNS over the message as the MTA delivers it (our header changes applied, here
// by the test's own reading of the packets), and a BATV-tagged envelope sender (SMFIR_CHGFROM) when every
// recipient is at another domain; other mail gets neither; an action the MTA did not grant is skipped.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import type { DkimSigner } from '../../src/dkim/signer.ts';
import type { GatewaySnapshot } from '../../src/smtp/gateway-types.ts';
import { keygen, verifierAt, type DkimVerifier } from '../helpers/dkim-keys.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { connectData, cstr, MilterClient, replyStrings, type MilterReply } from '../helpers/milter-client.ts';
import { startMilterGateway } from '../helpers/milter-gateway.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const BATV_KEY = { id: 1, secret: 'milter-batv-secret-0123456789ab' };

/** A milter gateway with a dkim.sign key for example.test published in a test DNS server, and its verifier. */
async function signingRig(t: TestContext, extra: Record<string, unknown> = {}): Promise<{ gw: Awaited<ReturnType<typeof startMilterGateway>>; verify: DkimVerifier }> {
  const key = await keygen(tempDir(t, 'spamgate-milter-sign-'), 'example.test', 'm1');
  const dns = await startDnsServer({ [key.name]: [{ TXT: key.record }] });
  t.after(() => dns.close());
  const gw = await startMilterGateway(t, { dkim: { sign: [{ domain: 'example.test', selector: 'm1', key: key.file }] }, smtp: { trusted_networks: ['192.0.2.0/24'] }, ...extra });
  return { gw, verify: verifierAt(dns.server) };
}

async function session(t: TestContext, port: number, client: string, actions = 0x1ff): Promise<MilterClient> {
  const m = await MilterClient.connect(port);
  t.after(() => m.close());
  await m.negotiate(actions, 0x1fffff);
  assert.equal((await m.step('C', connectData('client.example', client, 40000)))[0]?.cmd, 'c');
  assert.equal((await m.step('H', cstr('client.example')))[0]?.cmd, 'c');
  return m;
}

/** The header fields the MTA shows (values as written, with HDR_LEADSPC), its own Received field first. */
function fields(from: string, subject: string): [string, string][] {
  return [
    ['Received', ' from client.example (client.example [192.0.2.10])\n\tby mta.example.test (Postfix) with ESMTP id 4ABC;\n\tMon,  7 Dec 2026 09:00:00 +0000 (UTC)'],
    ['From', ` Alice <${from}>`],
    ['To', ' Bob <bob@remote.example>'],
    ['Subject', ` ${subject}`],
    ['Date', ' Mon, 7 Dec 2026 09:00:00 +0000'],
    ['Message-ID', ` <${Math.random().toString(36).slice(2)}@example.test>`],
  ];
}

interface Sent {
  eob: MilterReply[];
  headers: [string, string][];
  body: string;
}

async function send(m: MilterClient, o: { from?: string; mailFrom?: string; rcpts?: string[]; auth?: string; subject?: string; body?: string } = {}): Promise<Sent> {
  m.macro('M', { i: 'Q1', ...(o.auth ? { '{auth_authen}': o.auth } : {}) });
  assert.equal((await m.step('M', cstr(`<${o.mailFrom ?? 'alice@example.test'}>`)))[0]?.cmd, 'c');
  for (const r of o.rcpts ?? ['bob@remote.example']) assert.equal((await m.step('R', cstr(`<${r}>`)))[0]?.cmd, 'c');
  const headers = fields(o.from ?? 'alice@example.test', o.subject ?? 'hello');
  const body = o.body ?? 'Hello Bob,\r\n\r\nsee you  at noon. \r\n';
  return { eob: await m.message(headers, body), headers, body };
}

/** The message as an MTA delivers it after the milter's INSHEADER, CHGHEADER and ADDHEADER packets (values as written). */
function delivered(s: Sent): Buffer {
  const list = s.headers.map(([name, value]) => ({ name, value }));
  for (const r of s.eob) {
    if (r.cmd !== 'i' && r.cmd !== 'm' && r.cmd !== 'h') continue;
    const [name = '', value = ''] = replyStrings(r);
    if (r.cmd === 'h') list.push({ name, value });
    else if (r.cmd === 'i') list.splice(r.data.readUInt32BE(0), 0, { name, value });
    else {
      const same = list.map((f, i) => ({ f, i })).filter(({ f }) => f.name.toLowerCase() === name.toLowerCase());
      const at = same[r.data.readUInt32BE(0) - 1]?.i;
      if (at === undefined) continue;
      if (value === '') list.splice(at, 1);
      else list[at] = { name, value };
    }
  }
  const head = list.map((f) => `${f.name}:${f.value}`.replace(/\n/g, '\r\n') + '\r\n').join('');
  return Buffer.from(`${head}\r\n${s.body}`, 'latin1');
}

const signatures = (eob: MilterReply[]): MilterReply[] => eob.filter((r) => (r.cmd === 'i' || r.cmd === 'h') && replyStrings(r)[0] === 'DKIM-Signature');
const chgfrom = (eob: MilterReply[]): string[] => eob.filter((r) => r.cmd === 'e').map((r) => replyStrings(r)[0] ?? '');

test('an authenticated sender: DKIM-Signature inserted on top that verifies over the message as delivered, our Subject tag and result field included', async (t) => {
  const { gw, verify } = await signingRig(t);
  const m = await session(t, gw.milterPort, '203.0.113.5');
  const s = await send(m, { auth: 'alice', subject: 'lunch', body: 'Hello Bob, TAG-MARKER here.\r\n' });
  assert.equal(s.eob.at(-1)?.cmd, 'c');
  const [sig, ...more] = signatures(s.eob);
  assert.ok(sig, 'a DKIM-Signature is given to the MTA');
  assert.equal(more.length, 0);
  assert.equal(sig.cmd, 'i');
  assert.equal(sig.data.readUInt32BE(0), 0, 'at index 0: on top');
  // after our other header changes, before the final reply
  assert.equal(s.eob.indexOf(sig), s.eob.length - 2);
  assert.match(replyStrings(sig)[1] ?? '', /^ v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;\n h=.* s=m1;/s);
  assert.doesNotMatch(replyStrings(sig)[1] ?? '', /\r/, 'line breaks are LF for the MTA');
  const out = delivered(s);
  assert.match(out.toString('latin1'), /^Subject: \*\*\*SPAM\*\*\* lunch\r\n/m);
  assert.match(out.toString('latin1'), /^DKIM-Signature: v=1;/);
  assert.deepEqual(await verify(out), [{ result: 'pass', domain: 'example.test', selector: 'm1' }]);
  // signed over the changed Subject: the message as it came (without our changes) does not verify
  const unchanged = Buffer.concat([Buffer.from(`DKIM-Signature:${(replyStrings(sig)[1] ?? '').replace(/\n/g, '\r\n')}\r\n`, 'latin1'), delivered({ ...s, eob: [] })]);
  assert.equal((await verify(unchanged))[0]?.result, 'fail');
  assert.equal(gw.transactions().at(-1)?.dkim, 'example.test s=m1');
});

test('a client in smtp.trusted_networks is signed; an unauthenticated outside client, a From without a key, another domain than the envelope sender are not', async (t) => {
  const { gw, verify } = await signingRig(t);
  const trusted = await session(t, gw.milterPort, '192.0.2.10');
  const s = await send(trusted);
  assert.equal(signatures(s.eob).length, 1);
  assert.equal((await verify(delivered(s)))[0]?.result, 'pass');
  // the 8-bit body is signed as it is (the MTA delivers it so)
  const eight = await send(trusted, { body: 'Gr\xfc\xdfe, Bob\r\n' });
  assert.equal((await verify(delivered(eight)))[0]?.result, 'pass');
  const outside = await session(t, gw.milterPort, '203.0.113.5');
  const plain = await send(outside, { mailFrom: 'sender@remote.example', from: 'sender@remote.example', rcpts: ['user@example.test'] });
  assert.equal(plain.eob.at(-1)?.cmd, 'c');
  assert.deepEqual(signatures(plain.eob), []);
  const noKey = await send(trusted, { mailFrom: 'alice@other.example', from: 'alice@other.example' });
  assert.deepEqual(signatures(noKey.eob), []);
  // an authenticated user's From must be at the envelope sender's domain (the MTA checked the user may use that sender)
  const auth = await session(t, gw.milterPort, '203.0.113.6');
  const foreign = await send(auth, { auth: 'mallory', mailFrom: 'mallory@remote.example', from: 'ceo@example.test' });
  assert.deepEqual(signatures(foreign.eob), []);
  assert.match(String(gw.transactions().at(-1)?.dkim), /^not signed: From <ceo@example\.test>/);
});

test('milter.sign: false leaves signing to the MTA', async (t) => {
  const { gw } = await signingRig(t, { milter: { enabled: true, listen: '127.0.0.1:0', sign: false } });
  const m = await session(t, gw.milterPort, '192.0.2.10');
  const s = await send(m);
  assert.equal(s.eob.at(-1)?.cmd, 'c');
  assert.deepEqual(signatures(s.eob), []);
});

/** draft-levine-smtp-batv-01 §4.1, computed here: K DDD (expiry day mod 1000) and HMAC-SHA1 over K DDD address. */
function expectedPrvs(address: string, validDays = 7): string {
  const day = (Math.floor(Date.now() / 86_400_000) + validDays) % 1000;
  const ddd = String(day).padStart(3, '0');
  const hash = createHmac('sha1', BATV_KEY.secret).update(`${BATV_KEY.id}${ddd}${address.toLowerCase()}`).digest('hex').slice(0, 6);
  return `prvs=${BATV_KEY.id}${ddd}${hash}=${address}`;
}

test('BATV: our sender to another domain only is tagged (SMFIR_CHGFROM); local-only or mixed recipients, the null sender and other clients are not', async (t) => {
  const { gw } = await signingRig(t, { batv: { enabled: true, keys: [BATV_KEY] } });
  const m = await session(t, gw.milterPort, '203.0.113.5');
  const remote = await send(m, { auth: 'alice' });
  assert.deepEqual(chgfrom(remote.eob), [`<${expectedPrvs('alice@example.test')}>`]);
  assert.equal(remote.eob.at(-1)?.cmd, 'c');
  const local = await send(m, { auth: 'alice', rcpts: ['user@example.test'] });
  assert.deepEqual(chgfrom(local.eob), []);
  const mixed = await send(m, { auth: 'alice', rcpts: ['bob@remote.example', 'user@example.test'] });
  assert.deepEqual(chgfrom(mixed.eob), []);
  const bounce = await send(m, { auth: 'alice', mailFrom: '' });
  assert.deepEqual(chgfrom(bounce.eob), []);
  const other = await send(m, { auth: 'alice', mailFrom: 'alice@remote.example', from: 'alice@remote.example' });
  assert.deepEqual(chgfrom(other.eob), []);
  const outside = await session(t, gw.milterPort, '203.0.113.7');
  const inbound = await send(outside, { mailFrom: 'sender@remote.example', from: 'sender@remote.example', rcpts: ['user@example.test'] });
  assert.deepEqual(chgfrom(inbound.eob), []);
});

test('actions not granted: no SMFIF_CHGFROM, no tag; no SMFIF_ADDHDRS, no signature; each warned once', async (t) => {
  const { gw } = await signingRig(t, { batv: { enabled: true, keys: [BATV_KEY] } });
  const noChgfrom = await session(t, gw.milterPort, '192.0.2.10', 0x01 | 0x10 | 0x20);
  const a = await send(noChgfrom);
  assert.deepEqual(chgfrom(a.eob), []);
  assert.equal(signatures(a.eob).length, 1, 'still signed');
  const noAdd = await session(t, gw.milterPort, '192.0.2.10', 0x10 | 0x40);
  const b = await send(noAdd);
  assert.deepEqual(signatures(b.eob), []);
  assert.equal(chgfrom(b.eob).length, 1, 'still tagged');
  await send(noAdd);
  const warned = (what: string): number => gw.logs.filter((l) => l.level === 'warn' && String(l.msg).includes(what)).length;
  assert.equal(warned('SMFIF_CHGFROM'), 1);
  assert.equal(warned('SMFIF_ADDHDRS'), 1);
});

test('a signer that throws: the message goes on unsigned (continue), the failure logged, counted and in the log line; no 451', async (t) => {
  const { gw } = await signingRig(t, { batv: { enabled: true, keys: [BATV_KEY] } });
  const signer = (gw.app as unknown as { snapshot: GatewaySnapshot }).snapshot.dkim;
  assert.ok(signer);
  (signer as { sign: DkimSigner['sign'] }).sign = () => Promise.reject(new Error('key store gone'));
  const m = await session(t, gw.milterPort, '192.0.2.10');
  const s = await send(m);
  assert.equal(s.eob.at(-1)?.cmd, 'c', 'not refused for it');
  assert.deepEqual(s.eob.filter((r) => r.cmd === 'y'), []);
  assert.deepEqual(signatures(s.eob), []);
  assert.equal(chgfrom(s.eob).length, 1, 'still BATV-tagged');
  assert.equal(gw.transactions().at(-1)?.dkim, 'failed: key store gone');
  assert.ok(gw.logs.some((l) => l.level === 'warn' && String(l.msg).startsWith('dkim signing failed')));
  assert.match(await gw.app.registry.metrics(), /spamgate_dkim_signatures_total\{domain="example\.test",result="failed"\} 1/);
});

test('milter mode mends nothing, so refuses nothing for long lines: an unfoldable 1,200-octet Subject from our own sender goes on, signed as the MTA has it', async (t) => {
  const { gw, verify } = await signingRig(t);
  const m = await session(t, gw.milterPort, '203.0.113.5');
  const s = await send(m, { auth: 'alice', subject: 'x'.repeat(1200), body: `${'long '.repeat(400)}\r\n` });
  assert.deepEqual(s.eob.filter((r) => r.cmd === 'y').map((r) => replyStrings(r)[0]), [], 'no 554 5.6.0');
  assert.equal(s.eob.at(-1)?.cmd, 'c');
  assert.equal(signatures(s.eob).length, 1);
  assert.equal((await verify(delivered(s)))[0]?.result, 'pass');
});

test('X-Spamgate-Result: not inserted for our own mail with a recipient at another domain (authenticated or trusted); inserted among our domains and for outside clients', async (t) => {
  const { gw } = await signingRig(t);
  const results = (eob: MilterReply[]): MilterReply[] => eob.filter((r) => (r.cmd === 'i' || r.cmd === 'h') && replyStrings(r)[0] === 'X-Spamgate-Result');
  const authRemote = await send(await session(t, gw.milterPort, '203.0.113.5'), { auth: 'alice', rcpts: ['bob@remote.example', 'carol@example.test'] });
  assert.equal(authRemote.eob.at(-1)?.cmd, 'c');
  assert.equal(results(authRemote.eob).length, 0, 'an authenticated sender to another domain: no verdict field');
  assert.equal(signatures(authRemote.eob).length, 1, 'still signed');
  const trustedRemote = await send(await session(t, gw.milterPort, '192.0.2.10'), { rcpts: ['bob@remote.example'] });
  assert.equal(results(trustedRemote.eob).length, 0, 'a trusted network to another domain: no verdict field');
  const authLocal = await send(await session(t, gw.milterPort, '203.0.113.5'), { auth: 'alice', rcpts: ['carol@example.test'] });
  assert.equal(results(authLocal.eob).length, 1, 'among our own domains: kept');
  const outside = await send(await session(t, gw.milterPort, '203.0.113.9'), { mailFrom: 'someone@elsewhere.example', from: 'someone@elsewhere.example', rcpts: ['carol@example.test'] });
  assert.equal(results(outside.eob).length, 1, 'received mail: kept');
  // the log line keeps the verdict
  assert.equal(gw.transactions().length, 4);
  assert.ok(gw.transactions().every((l) => typeof l.score === 'number'));
});
