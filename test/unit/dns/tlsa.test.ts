// TLSA rdata (RFC 6698 §2.1): parsing of good and malformed rdata, usability for SMTP (RFC 7672 §3.1.3) and the
// AD bit / rdata mapping of DNSSEC-aware answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dns2 from 'dns2';
import { mapSecureReply } from '../../../src/dns/secure-dns.ts';
import { isUsable, MAX_TLSA_RDATA, parseTlsa, presentTlsa } from '../../../src/dns/tlsa.ts';

const { Packet } = dns2;
const rdata = (u: number, s: number, m: number, data: Buffer): Buffer => Buffer.concat([Buffer.from([u, s, m]), data]);

test('a DANE-EE SPKI SHA-256 record parses', () => {
  const digest = Buffer.alloc(32, 0xab);
  const p = parseTlsa(rdata(3, 1, 1, digest));
  assert.ok(p.ok);
  assert.deepEqual(p.record, { usage: 3, selector: 1, matchingType: 1, data: digest });
  assert.equal(isUsable(p.record), true);
  assert.equal(presentTlsa(p.record), `3 1 1 ${'ab'.repeat(32)}`);
});

test('malformed rdata is refused with a reason', () => {
  for (const [bad, why] of [
    [Buffer.alloc(0), /at least 4/],
    [Buffer.from([3, 1, 1]), /at least 4/],
    [rdata(3, 1, 1, Buffer.alloc(31)), /expected 32/],
    [rdata(3, 1, 1, Buffer.alloc(33)), /expected 32/],
    [rdata(2, 0, 2, Buffer.alloc(32)), /expected 64/],
    [rdata(3, 0, 0, Buffer.alloc(MAX_TLSA_RDATA)), /at most/],
  ] as const) {
    const p = parseTlsa(bad);
    assert.equal(p.ok, false, `${bad.toString('hex').slice(0, 20)} should be refused`);
    if (!p.ok) assert.match(p.reason, why);
  }
  // a full certificate (matching type 0) has no fixed length
  assert.equal(parseTlsa(rdata(3, 0, 0, Buffer.alloc(700, 1))).ok, true);
});

test('PKIX-TA(0), PKIX-EE(1) and unknown parameters are unusable for SMTP; DANE-TA(2) and DANE-EE(3) are', () => {
  const rec = (usage: number, selector: number, matchingType: number) => ({ usage, selector, matchingType, data: Buffer.alloc(32) });
  assert.equal(isUsable(rec(0, 1, 1)), false);
  assert.equal(isUsable(rec(1, 1, 1)), false);
  assert.equal(isUsable(rec(4, 1, 1)), false);
  assert.equal(isUsable(rec(3, 2, 1)), false);
  assert.equal(isUsable(rec(3, 1, 3)), false);
  assert.equal(isUsable(rec(2, 0, 1)), true);
  assert.equal(isUsable(rec(3, 1, 2)), true);
});

/** A reply packet with TLSA rdata (kept raw by dns2) and the AD bit as given. */
function reply(ad: boolean, answers: Array<{ name: string; type: number; data?: Buffer; domain?: string }>, rcode = 0): dns2.Packet {
  const p = new Packet();
  p.header.qr = 1;
  p.header.rcode = rcode;
  (p.header as dns2.Packet.Header & { ad?: number }).ad = ad ? 1 : 0;
  p.questions.push({ name: '_25._tcp.mx.example', type: 52, class: 1 } as dns2.Packet.Question);
  for (const a of answers) p.answers.push({ ...a, class: 1, ttl: 60 } as dns2.Packet.Resource);
  return Packet.parse(p.toBuffer());
}

test('answers map to secure only with the AD bit; TLSA rdata is kept raw, CNAMEs are followed', () => {
  const r = rdata(3, 1, 1, Buffer.alloc(32, 7));
  const secure = mapSecureReply(reply(true, [{ name: '_25._tcp.mx.example', type: 52, data: r }]), 'TLSA');
  assert.equal(secure.status, 'ok');
  if (secure.status === 'ok') {
    assert.equal(secure.secure, true);
    assert.deepEqual(secure.records[0]?.rdata, r);
  }
  const insecure = mapSecureReply(reply(false, [{ name: '_25._tcp.mx.example', type: 52, data: r }]), 'TLSA');
  assert.equal(insecure.status === 'ok' && insecure.secure, false);
  const aliased = mapSecureReply(reply(true, [{ name: '_25._tcp.mx.example', type: 5, domain: 'tlsa.other.example' }, { name: 'tlsa.other.example', type: 52, data: r }]), 'TLSA');
  assert.equal(aliased.status === 'ok' && aliased.owner, 'tlsa.other.example');
  assert.equal(mapSecureReply(reply(true, [], 2), 'TLSA').status, 'temperror');
  const nodata = mapSecureReply(reply(true, []), 'TLSA');
  assert.deepEqual(nodata, { status: 'nodata', secure: true });
});
