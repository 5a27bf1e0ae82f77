// DANE certificate matching (RFC 7672 §3) on chains made by openssl: DANE-EE ignores names and dates (§3.1.1),
// DANE-TA needs a matching anchor that signs down to the leaf, dates below it and the MX name on the leaf (§3.2.2).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { matchChain } from '../../../src/mailhost/dane-match.ts';
import type { TlsaRecord } from '../../../src/dns/tlsa.ts';
import { makeTestCa } from '../../helpers/test-ca.ts';

const der = (pem: Buffer): Buffer => new X509Certificate(pem).raw;
const spki = (pem: Buffer): Buffer => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
const sha = (alg: string, b: Buffer): Buffer => createHash(alg).update(b).digest();
const rec = (usage: number, selector: number, matchingType: number, data: Buffer): TlsaRecord => ({ usage, selector, matchingType, data });
const DAY = 86_400_000;

test('DANE-EE: SPKI or full certificate, exact, SHA-256 or SHA-512; no name or date check', (t) => {
  const ca = makeTestCa(t);
  const leaf = ca.issue(['other.example']).cert;
  const chain = [der(leaf)];
  const names = ['mx.dane.test'];
  const later = Date.now() + 30 * DAY; // the leaf has expired by then
  for (const r of [rec(3, 1, 1, sha('sha256', spki(leaf))), rec(3, 0, 2, sha('sha512', der(leaf))), rec(3, 1, 0, spki(leaf)), rec(3, 0, 0, der(leaf))]) {
    assert.deepEqual(matchChain({ chain, records: [r], names, now: later }), { ok: true, usage: 3 }, `${r.selector} ${r.matchingType}`);
  }
  const other = ca.issue(['x.example']).cert;
  assert.equal(matchChain({ chain, records: [rec(3, 1, 1, sha('sha256', spki(other)))], names, now: Date.now() }).ok, false);
  assert.equal(matchChain({ chain: [], records: [rec(3, 1, 1, sha('sha256', spki(leaf)))], names, now: Date.now() }).ok, false);
  assert.equal(matchChain({ chain: [Buffer.from('not a certificate')], records: [rec(3, 1, 1, sha('sha256', spki(leaf)))], names, now: Date.now() }).ok, false);
});

test('DANE-TA: the CA in the chain, or its bare key (2 1 0) outside it; the leaf must carry the name and be in date', (t) => {
  const ca = makeTestCa(t);
  const leaf = ca.issue(['mx.dane.test']).cert;
  const now = Date.now();
  const byCert = rec(2, 0, 1, sha('sha256', der(ca.ca)));
  assert.deepEqual(matchChain({ chain: [der(leaf), der(ca.ca)], records: [byCert], names: ['mx.dane.test'], now }), { ok: true, usage: 2 });
  // the anchor must be presented for a digest record...
  assert.equal(matchChain({ chain: [der(leaf)], records: [byCert], names: ['mx.dane.test'], now }).ok, false);
  // ...but a full SPKI record is the key itself
  assert.equal(matchChain({ chain: [der(leaf)], records: [rec(2, 1, 0, spki(ca.ca))], names: ['mx.dane.test'], now }).ok, true);
  const wrongName = matchChain({ chain: [der(leaf), der(ca.ca)], records: [byCert], names: ['mx2.dane.test'], now });
  assert.equal(wrongName.ok, false);
  const expired = matchChain({ chain: [der(leaf), der(ca.ca)], records: [byCert], names: ['mx.dane.test'], now: now + 30 * DAY });
  assert.ok(!expired.ok && /expired/.test(expired.reason));
  // a CA that did not sign the leaf matches no anchor of its chain, even when presented
  const stranger = makeTestCa(t);
  assert.equal(matchChain({ chain: [der(leaf), der(stranger.ca)], records: [rec(2, 0, 1, sha('sha256', der(stranger.ca)))], names: ['mx.dane.test'], now }).ok, false);
});

test('DANE-TA: a certificate between the leaf and the anchor must be a CA; an end-entity certificate of the anchor cannot issue', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-dane-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const issue = (name: string, issuer: string, ext: string[]): Buffer => {
    writeFileSync(path.join(dir, `${name}.ext`), `${ext.join('\n')}\n`);
    ssl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
    return readFileSync(path.join(dir, `${name}.pem`));
  };
  ssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=anchor CA', '-addext', 'basicConstraints=critical,CA:TRUE']);
  const ca = readFileSync(path.join(dir, 'ca.pem'));
  // anyone may get an end-entity certificate (CA:FALSE, no key usage extension) from the CA a TLSA record names
  const mine = issue('mine', 'ca', ['basicConstraints=CA:FALSE', 'subjectAltName=DNS:attacker.example']);
  // and sign with its key a certificate for the victim's MX host
  const forged = issue('forged', 'mine', ['basicConstraints=CA:FALSE', 'subjectAltName=DNS:mx.dane.test']);
  const now = Date.now();
  const names = ['mx.dane.test'];
  for (const r of [rec(2, 0, 1, sha('sha256', der(ca))), rec(2, 1, 0, spki(ca))]) {
    const m = matchChain({ chain: [der(forged), der(mine), der(ca)], records: [r], names, now });
    assert.equal(m.ok, false, `${r.selector} ${r.matchingType}: a chain through an end-entity certificate`);
  }
  // an intermediate that is a CA is fine, and so is the anchor's own leaf for the name
  const sub = issue('sub', 'ca', ['basicConstraints=critical,CA:TRUE']);
  const viaSub = issue('viasub', 'sub', ['basicConstraints=CA:FALSE', 'subjectAltName=DNS:mx.dane.test']);
  assert.deepEqual(matchChain({ chain: [der(viaSub), der(sub), der(ca)], records: [rec(2, 0, 1, sha('sha256', der(ca)))], names, now: Date.now() }), { ok: true, usage: 2 });
  const real = issue('real', 'ca', ['basicConstraints=CA:FALSE', 'subjectAltName=DNS:mx.dane.test']);
  assert.equal(matchChain({ chain: [der(real), der(ca)], records: [rec(2, 1, 0, spki(ca))], names, now: Date.now() }).ok, true);
});

test('a certificate whose public key node cannot decode is no match, never a throw (the session is a TLSA failure, not a broken connection)', (t) => {
  const ca = makeTestCa(t);
  const leaf = der(ca.issue(['mx.dane.test']).cert);
  // the SubjectPublicKeyInfo algorithm made an unknown OID (ecPublicKey 1.2.840.10045.2.1 -> .2.9)
  const oid = Buffer.from('06072a8648ce3d0201', 'hex');
  const at = leaf.indexOf(oid);
  assert.ok(at > 0);
  const odd = Buffer.from(leaf);
  odd[at + 8] = 0x09;
  assert.throws(() => new X509Certificate(odd).publicKey);
  const now = Date.now();
  for (const records of [[rec(3, 1, 1, Buffer.alloc(32))], [rec(2, 1, 1, sha('sha256', spki(ca.ca)))], [rec(2, 1, 0, spki(ca.ca))]]) {
    const m = matchChain({ chain: [odd, der(ca.ca)], records, names: ['mx.dane.test'], now });
    assert.equal(m.ok, false);
  }
  // an intermediate with such a key, above a leaf it is said to have signed
  assert.equal(matchChain({ chain: [leaf, odd], records: [rec(2, 0, 1, Buffer.alloc(32))], names: ['mx.dane.test'], now }).ok, false);
});
