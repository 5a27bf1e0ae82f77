// BATV at run time: which senders are signed at hand-off (not the null sender, SRS addresses, other domains,
// tagged ones, local parts too long for a tag), how recipients are read, and the counter starting at zero.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batvCounter, createBatv, plainRecipient } from '../../../src/batv/batv.ts';
import { prvsSign } from '../../../src/batv/prvs.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';

const SECRET = 'unit-test-batv-secret-0123456789';
const NOW = Date.UTC(2026, 11, 7, 10, 0, 0);

function make(batv: Record<string, unknown> = {}, nowMs = NOW) {
  const registry = createRegistry(false);
  const config = configSchema.parse({ local_domains: ['example.org', 'example.net'], batv: { enabled: true, keys: [{ id: 4, secret: SECRET }, { id: 1, secret: `${SECRET}-old` }], ...batv } });
  const b = createBatv(config, { clock: { now: () => nowMs }, results: batvCounter(registry) });
  assert.ok(b);
  return { b, registry };
}

test('outgoingSender: our domains signed with the first key; <>, SRS, other domains, tagged and too long kept', async () => {
  const { b, registry } = make();
  assert.match(b.outgoingSender('alice@example.org'), /^prvs=4\d{3}[0-9a-f]{6}=alice@example\.org$/);
  assert.match(b.outgoingSender('Bob@Example.NET'), /^prvs=4\d{3}[0-9a-f]{6}=Bob@Example\.NET$/);
  for (const kept of ['', 'alice@other.example', 'SRS0=AbCd=ZZ=orig.example=bob@example.org', 'srs1=x=y==z@example.org', 'prvs=4123abcdef=alice@example.org', `${'a'.repeat(50)}@example.org`]) {
    assert.equal(b.outgoingSender(kept), kept, kept);
  }
  const text = await registry.metrics();
  assert.match(text, /^spamgate_batv_total\{result="signed"\} 2$/m);
  for (const r of ['valid', 'invalid', 'unsigned']) assert.match(text, new RegExp(`^spamgate_batv_total\\{result="${r}"\\} 0$`, 'm'));
});

test('outgoingSender: batv.domains limits the signed domains', () => {
  const { b } = make({ domains: ['example.net'] });
  assert.equal(b.outgoingSender('alice@example.org'), 'alice@example.org');
  assert.match(b.outgoingSender('alice@example.net'), /^prvs=/);
  assert.equal(b.signs('EXAMPLE.NET.'), true);
  assert.equal(b.signs('example.org'), false);
});

test('readRecipient: tagged addresses at signed domains read and checked; others plain; broken ones malformed', () => {
  const { b } = make();
  const signed = b.outgoingSender('alice@example.org');
  assert.deepEqual(b.readRecipient(signed), { kind: 'tagged', address: 'alice@example.org', check: { kind: 'valid', address: 'alice@example.org' } });
  assert.deepEqual(b.readRecipient('alice@example.org'), { kind: 'plain' });
  // not one of the signed domains: not ours to read, left as it is
  assert.deepEqual(b.readRecipient(signed.replace('@example.org', '@elsewhere.example')), { kind: 'plain' });
  assert.deepEqual(b.readRecipient('prvs=junk@example.org'), { kind: 'malformed' });
  // a tag made by the old key (still listed) passes
  const { b: before } = make({ keys: [{ id: 1, secret: `${SECRET}-old` }] });
  const old = before.outgoingSender('alice@example.org');
  assert.equal((b.readRecipient(old) as { check?: { kind: string } }).check?.kind, 'valid');
  // expired: signed 8 days before
  const { b: earlier } = make({}, NOW - 8 * 86_400_000);
  const stale = earlier.outgoingSender('alice@example.org');
  assert.deepEqual((b.readRecipient(stale) as { check?: unknown }).check, { kind: 'invalid', reason: 'expired', address: 'alice@example.org' });
});

test('createBatv: undefined when off', () => {
  const config = configSchema.parse({});
  assert.equal(createBatv(config, { clock: { now: () => NOW }, results: batvCounter(createRegistry(false)) }), undefined);
});

test('plainRecipient: tags removed at signed domains (judged by the check) and, unjudged, at our other domains or with BATV off', () => {
  const { b } = make({ domains: ['example.org'] });
  const locals = ['example.org', 'example.net'];
  const key = { id: 9, secret: SECRET };
  const org = prvsSign('alice@example.org', key, NOW, 7);
  assert.equal(plainRecipient(b, org, locals), 'alice@example.org', 'an unknown key: the check refuses a bounce, the address is plain');
  assert.equal(plainRecipient(b, prvsSign('bob@example.net', key, NOW, 7), locals), 'bob@example.net');
  assert.equal(plainRecipient(undefined, org, locals), 'alice@example.org', 'BATV off');
  for (const kept of ['prvs=junk@example.org', 'prvs=junk@example.net', prvsSign('carol@remote.example', key, NOW, 7), 'alice@example.org']) {
    assert.equal(plainRecipient(b, kept, locals), kept, kept);
    assert.equal(plainRecipient(undefined, kept, locals), kept, kept);
  }
});
