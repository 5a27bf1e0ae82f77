// DANE discovery of one delivery (RFC 7672 §2.2) over a scripted SecureDns: which answers lead to DANE, to none or
// to a deferral, and the bound on look-ups per delivery.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SecureAnswer, SecureDns, SecureType } from '../../../src/dns/secure-dns.ts';
import { daneDelivery, MAX_DANE_QUERIES } from '../../../src/mailhost/dane-policy.ts';

const TLSA = Buffer.concat([Buffer.from([3, 1, 1]), Buffer.alloc(32, 1)]);

function scripted(answer: (name: string, type: SecureType) => SecureAnswer): SecureDns & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookup: async (name, type) => {
      asked.push(`${type} ${name}`);
      return answer(name, type);
    },
  };
}
const ok = (owner: string, secure: boolean, rdata = Buffer.alloc(0)): SecureAnswer => ({ status: 'ok', secure, owner, records: [{ text: '127.0.0.1', rdata }] });

test('secure MX, secure address and TLSA: DANE with the records; a bogus MX answer defers; an insecure one is no DANE', async () => {
  const dns = scripted((name, type) => (type === 'TLSA' ? ok(name, true, TLSA) : ok(name, true)));
  const d = daneDelivery(dns, 25);
  assert.deepEqual(await d.domain('dane.test', false), { kind: 'secure' });
  const h = await d.host('mx.dane.test');
  assert.equal(h.kind, 'dane');
  assert.ok(h.kind === 'dane' && h.names.includes('mx.dane.test') && h.present[0]?.startsWith('3 1 1 '));
  assert.deepEqual(dns.asked, ['MX dane.test', 'A mx.dane.test', 'TLSA _25._tcp.mx.dane.test']);
  assert.equal((await daneDelivery(scripted(() => ({ status: 'temperror', reason: 'SERVFAIL' })), 25).domain('dane.test', false)).kind, 'defer');
  assert.equal((await daneDelivery(scripted((n) => ok(n, false)), 25).domain('dane.test', false)).kind, 'insecure');
});

test('an insecure address RRset: no TLSA look-up (RFC 7672 §2.2.3); a secure TLSA denial: no DANE', async () => {
  const dns = scripted((name, type) => (type === 'A' ? ok(name, false) : ok(name, true, TLSA)));
  assert.deepEqual(await daneDelivery(dns, 25).host('mx.dane.test'), { kind: 'none', why: 'host_insecure' });
  assert.ok(!dns.asked.some((q) => q.startsWith('TLSA')));
  const denied = scripted((name, type) => (type === 'TLSA' ? { status: 'nodata', secure: true } : ok(name, true)));
  assert.deepEqual(await daneDelivery(denied, 25).host('mx.dane.test'), { kind: 'none', why: 'no_tlsa' });
});

test('look-ups per delivery are bounded: past MAX_DANE_QUERIES a host is deferred, not taken for one without DANE', async () => {
  const dns = scripted((name, type) => (type === 'TLSA' ? ok(name, true, TLSA) : ok(name, true)));
  const d = daneDelivery(dns, 25);
  const kinds: string[] = [];
  for (let i = 0; i < MAX_DANE_QUERIES; i++) kinds.push((await d.host(`mx${i}.dane.test`)).kind);
  assert.equal(dns.asked.length, MAX_DANE_QUERIES);
  assert.ok(kinds.slice(0, MAX_DANE_QUERIES / 2).every((k) => k === 'dane'));
  assert.ok(kinds.slice(MAX_DANE_QUERIES / 2).every((k) => k === 'defer'));
  // the same host again is answered from this delivery's memory, with no new question
  await d.host('mx0.dane.test');
  assert.equal(dns.asked.length, MAX_DANE_QUERIES);
});

test('the bound on look-ups follows outbound.max_mx_hosts: every host of a larger plan gets its look-ups, even the costliest', async () => {
  // the costliest host: no A, AAAA through a CNAME, no TLSA at the expanded name, TLSA at the MX name (4 questions)
  const dns = scripted((name, type) => {
    if (type === 'MX') return ok(name, true);
    if (type === 'A') return { status: 'nodata', secure: true };
    if (type === 'AAAA') return ok(`cdn.${name}`, true);
    return name.startsWith('_25._tcp.cdn.') ? { status: 'nodata', secure: true } : ok(name, true, TLSA);
  });
  const hosts = 8;
  const d = daneDelivery(dns, 25, hosts);
  assert.deepEqual(await d.domain('dane.test', false), { kind: 'secure' });
  const kinds: string[] = [];
  for (let i = 0; i < hosts; i++) kinds.push((await d.host(`mx${i}.dane.test`)).kind);
  assert.deepEqual(kinds, Array(hosts).fill('dane'));
  assert.equal(dns.asked.length, 1 + 4 * hosts);
  // and still bounded: a host past the plan's size finds the budget spent
  assert.equal((await d.host('extra.dane.test')).kind, 'defer');
});
