// DKIM, DMARC and Authentication-Results through the data-phase check, with a key generated here and
// published in the dns2 test server.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { createAuthCheck } from '../../../src/checks/dkim-dmarc.ts';
import { SPF_RESULT_KEY } from '../../../src/checks/spf.ts';
import { createResolver } from '../../../src/dns/dns2-resolver.ts';
import type { SpfOutcome } from '../../../src/dns/spf.ts';
import { startDnsServer } from '../../helpers/dns-server.ts';
import { makeContext } from './dns-context.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

function message(from: string, body = 'Hello Bob,\r\nthis is a test.\r\n'): Buffer {
  return Buffer.from(`From: Alice <${from}>\r\nTo: bob@rcpt.test\r\nSubject: test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@${from.split('@')[1]}>\r\n\r\n${body}`);
}

async function signed(from: string, domain: string): Promise<Buffer> {
  const raw = message(from);
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const res = await dkimSign(raw, { signatureData: [{ signingDomain: domain, selector: 'sel', privateKey: key }] } as unknown as Parameters<typeof dkimSign>[1]);
  assert.ok(res.signatures, `signed: ${JSON.stringify(res.errors)}`);
  return Buffer.concat([Buffer.from(res.signatures), raw]);
}

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dns = await startDnsServer({
    'sel._domainkey.sender.test': [{ TXT: keyRecord }],
    '_dmarc.sender.test': [{ TXT: 'v=DMARC1; p=reject' }],
    '_dmarc.quarantine.test': [{ TXT: 'v=DMARC1; p=quarantine' }],
  });
  t.after(() => dns.close());
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 500, retries: 0 });
  return createAuthCheck({ resolver, hostname: 'mx.receiver.test' });
}

const symbols = (hits: Array<{ symbol: string }>) => hits.map((h) => h.symbol).sort();

test('a valid signature passes DKIM and DMARC; Authentication-Results names both', async (t) => {
  const check = await setup(t);
  const ctx = makeContext('data', {}, {}, { raw: await signed('alice@sender.test', 'sender.test') });
  assert.deepEqual(symbols(await check.run(ctx)), ['DKIM_PASS', 'DMARC_PASS']);
  const [name, value] = ctx.headers[0] ?? [];
  assert.equal(name, 'Authentication-Results');
  assert.match(value ?? '', /^mx\.receiver\.test;\r\n\tdkim=pass header\.d=sender\.test header\.i=@sender\.test header\.s=sel/);
  assert.match(value ?? '', /dmarc=pass/);
});

test('a tampered body fails DKIM; DMARC p=reject gives DMARC_FAIL_REJECT', async (t) => {
  const check = await setup(t);
  const good = (await signed('alice@sender.test', 'sender.test')).toString();
  const ctx = makeContext('data', {}, {}, { raw: Buffer.from(good.replace('this is a test', 'this is a scam')) });
  assert.deepEqual(symbols(await check.run(ctx)), ['DKIM_FAIL', 'DMARC_FAIL_REJECT']);
  assert.match(ctx.headers[0]?.[1] ?? '', /dkim=fail/);
});

test('unsigned mail: DKIM_NONE and the policy of the From domain', async (t) => {
  const check = await setup(t);
  assert.deepEqual(symbols(await check.run(makeContext('data', {}, {}, { raw: message('a@quarantine.test') }))), ['DKIM_NONE', 'DMARC_FAIL_QUARANTINE']);
  assert.deepEqual(symbols(await check.run(makeContext('data', {}, {}, { raw: message('a@nopolicy.test') }))), ['DKIM_NONE', 'DMARC_NONE']);
});

test('an aligned SPF pass from the mail phase satisfies DMARC and is reported', async (t) => {
  const check = await setup(t);
  const spf: SpfOutcome = { result: 'pass', identity: 'mailfrom', domain: 'sender.test', sender: 'a@sender.test', comment: '', receivedSpf: '', authResults: 'spf=pass smtp.mailfrom=sender.test' };
  const ctx = makeContext('data', {}, { mailFrom: 'a@sender.test' }, { raw: message('alice@sender.test'), results: new Map([[SPF_RESULT_KEY, spf]]) });
  assert.deepEqual(symbols(await check.run(ctx)), ['DKIM_NONE', 'DMARC_PASS']);
  assert.match(ctx.headers[0]?.[1] ?? '', /spf=pass smtp\.mailfrom=sender\.test/);
});

test('a bounce (null sender) counts its SPF pass for the HELO domain (RFC 7208 §2.4): no DMARC reject for unsigned DSNs', async (t) => {
  const check = await setup(t);
  // what the mail-phase SPF check records for MAIL FROM:<> after HELO mx.sender.test
  const spf: SpfOutcome = { result: 'pass', identity: 'helo', domain: 'mx.sender.test', sender: 'postmaster@mx.sender.test', comment: '', receivedSpf: '', authResults: 'spf=pass smtp.helo=mx.sender.test' };
  const ctx = makeContext('data', { helo: 'mx.sender.test' }, { mailFrom: '' }, { raw: message('MAILER-DAEMON@mx.sender.test'), results: new Map([[SPF_RESULT_KEY, spf]]) });
  assert.deepEqual(symbols(await check.run(ctx)), ['DKIM_NONE', 'DMARC_PASS']);
  const failed = makeContext('data', { helo: 'mx.sender.test' }, { mailFrom: '' }, { raw: message('MAILER-DAEMON@mx.sender.test'), results: new Map([[SPF_RESULT_KEY, { ...spf, result: 'fail' }]]) });
  assert.deepEqual(symbols(await check.run(failed)), ['DKIM_NONE', 'DMARC_FAIL_REJECT']);
});
