// Oversigning (RFC 6376 §8.15): spamgate's signatures name From, Subject, Reply-To, … once more than the message has
// them, so a copy with such a field added above the signed one fails to verify; the signature still verifies as
// sent, with RSA and Ed25519 keys, and mailauth's own signature (without oversigning) is what the attack passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { DKIMSignOptions } from 'mailauth';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { headerFields, OVERSIGNED_FIELDS, relaxedHeader } from '../../../src/dkim/oversign.ts';
import { createDkimSigner } from '../../../src/dkim/signer.ts';
import { publicKeyRecord, type DkimKeyType } from '../../../src/dkim/signing-key.ts';

const MESSAGE = 'From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: quarterly figures\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <q1@example.com>\r\nX-Note:  folded\r\n  value\t here \r\n\r\nSee the attached figures.\r\n';

function keyPair(type: DkimKeyType): { pem: string; record: string } {
  const { privateKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: publicKeyRecord(privateKey, type) };
}

async function verify(message: string, record: string): Promise<string> {
  const resolver = async (name: string, rr: string): Promise<string[][]> => {
    if (rr === 'TXT' && name === 's1._domainkey.example.com') return [[record]];
    throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  };
  const res = await dkimVerify(Buffer.from(message), { resolver } as Parameters<typeof dkimVerify>[1]);
  return res.results.map((r) => r.status.result).join(',');
}

for (const type of ['rsa', 'ed25519'] as const) {
  test(`${type}: the signature verifies as sent; a From, Subject or Reply-To added above fails it; another field added does not`, async () => {
    const key = keyPair(type);
    const signer = createDkimSigner([{ domain: 'example.com', selector: 's1', type, pem: key.pem }]);
    const out = await signer.sign(Buffer.from(MESSAGE), Date.now());
    assert.equal(out.status, 'signed');
    if (out.status !== 'signed') return;
    const h = /h=([^;]+);/.exec(out.header.replace(/\r\n[ \t]/g, ''))?.[1]?.replace(/\s/g, '').split(':') ?? [];
    assert.equal(h.filter((n) => n.toLowerCase() === 'from').length, 2, `From oversigned: ${h.join(':')}`);
    assert.ok(h.includes('Reply-To'), 'an absent field is named too');
    const signed = out.header + out.message.toString('latin1');
    assert.equal(await verify(signed, key.record), 'pass');
    for (const added of ['From: Mallory <ceo@example.com>\r\n', 'Subject: urgent wire transfer\r\n', 'Reply-To: mallory@evil.example\r\n']) {
      assert.equal(await verify(added + signed, key.record), 'fail', `added above: ${added.trim()}`);
    }
    assert.equal(await verify('X-Scanned: yes\r\n' + signed, key.record), 'pass', 'a field not signed may be added');
  });
}

test('without oversigning (the signer library alone) a From added above still verifies: the attack this prevents', async () => {
  const key = keyPair('rsa');
  const signature = { signingDomain: 'example.com', selector: 's1', privateKey: key.pem };
  const res = await dkimSign(Buffer.from(MESSAGE), { ...signature, signatureData: [signature], canonicalization: 'relaxed/relaxed' } as DKIMSignOptions);
  const signed = res.signatures + MESSAGE;
  assert.equal(await verify(signed, key.record), 'pass');
  assert.equal(await verify('From: Mallory <ceo@example.com>\r\n' + signed, key.record), 'pass');
});

test('relaxed header canonicalization (RFC 6376 §3.4.2) and header splitting', () => {
  assert.equal(relaxedHeader('SubJect ', ' A  b\r\n \tc \t'), 'subject:A b c');
  const fields = headerFields(Buffer.from(MESSAGE));
  assert.deepEqual(fields.map((f) => f.name), ['From', 'To', 'Subject', 'Date', 'Message-ID', 'X-Note']);
  assert.equal(relaxedHeader(fields[5]?.name ?? '', fields[5]?.value ?? ''), 'x-note:folded value here');
  assert.ok(OVERSIGNED_FIELDS.includes('From') && OVERSIGNED_FIELDS.includes('Subject'));
});
