// DANE certificate matching (RFC 7672 §3) on chains made by openssl: DANE-EE ignores names and dates (§3.1.1),
// DANE-TA needs a matching anchor that signs down to the leaf, dates below it and the MX name on the leaf (§3.2.2).
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
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
