// Local delivery into the real Maildir store: trace headers, INBOX/Junk routing, quota, duplicates, loops; POP-before-SMTP.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createLocalDelivery, replyForDelivery } from '../../../src/mailhost/local-delivery.ts';
import { PopBeforeSmtp } from '../../../src/mailhost/pop-before-smtp.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

function setup(t: TestContext, quotas: Record<string, number> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-ld-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = createMaildirStore({ root: dir, fsync: false });
  const known = new Set(['alice@example.com', 'bob@example.com']);
  const directory = { lookup: (u: string) => (known.has(u.toLowerCase()) ? { name: u.toLowerCase() } : undefined), quotaOf: (u: string) => quotas[u] };
  const registry = createRegistry(false);
  return { store, registry, ld: createLocalDelivery({ store, directory, log: silentLogger, registry }) };
}

const RAW = Buffer.from('From: x@example.org\r\nSubject: hello\r\n\r\nbody\r\n');

test('adds Return-Path and Delivered-To on top and files clean mail in INBOX, junk in Junk', async (t) => {
  const { store, ld, registry } = setup(t);
  const r = await ld.deliverLocal({ mailFrom: 'x@example.org', recipient: 'Alice+News@example.com', mailbox: 'alice@example.com', raw: RAW, junk: false });
  assert.equal(r.kind, 'delivered');
  const uid = r.kind === 'delivered' ? r.uid : 0;
  const stored = (await store.read('alice@example.com', 'INBOX', uid)).toString();
  assert.equal(stored, 'Return-Path: <x@example.org>\r\nDelivered-To: Alice+News@example.com\r\nFrom: x@example.org\r\nSubject: hello\r\n\r\nbody\r\n');
  const j = await ld.deliverLocal({ mailFrom: '', recipient: 'alice@example.com', mailbox: 'alice@example.com', raw: RAW, junk: true });
  assert.deepEqual(j.kind === 'delivered' ? j.folder : '', 'Junk');
  assert.equal((await store.list('alice@example.com', 'Junk')).length, 1);
  assert.match((await store.read('alice@example.com', 'Junk', j.kind === 'delivered' ? j.uid : 0)).toString(), /^Return-Path: <>\r\n/);
  assert.match(await registry.getSingleMetricAsString('spamgate_local_deliveries_total'), /result="delivered_junk"} 1/);
});

test('a Junk folder the user deleted (over IMAP) is made again by the next junk delivery, not deferred', async (t) => {
  const { store, ld } = setup(t);
  const first = await ld.deliverLocal({ mailFrom: 'x@example.org', recipient: 'alice@example.com', mailbox: 'alice@example.com', raw: RAW, junk: true });
  assert.equal(first.kind, 'delivered');
  await store.deleteMailbox('alice@example.com', 'Junk');
  const again = await ld.deliverLocal({ mailFrom: 'x@example.org', recipient: 'alice@example.com', mailbox: 'alice@example.com', raw: RAW, junk: true });
  assert.deepEqual(again.kind === 'delivered' ? again.folder : again, 'Junk');
  assert.equal((await store.list('alice@example.com', 'Junk')).length, 1, 'the new Junk holds the new copy');
});

test('one copy per mailbox per delivery id (many-to-one aliases); a new id delivers again', async (t) => {
  const { store, ld } = setup(t);
  const base = { mailFrom: 's@example.org', mailbox: 'alice@example.com', raw: RAW, junk: false, deliveryId: 'q1' };
  assert.equal((await ld.deliverLocal({ ...base, recipient: 'sales@example.com' })).kind, 'delivered');
  assert.deepEqual(await ld.deliverLocal({ ...base, recipient: 'info@example.com' }), { kind: 'duplicate', user: 'alice@example.com' });
  assert.equal((await ld.deliverLocal({ ...base, recipient: 'info@example.com', mailbox: 'bob@example.com' })).kind, 'delivered');
  assert.equal((await ld.deliverLocal({ ...base, recipient: 'info@example.com', deliveryId: 'q2' })).kind, 'delivered');
  assert.equal((await store.list('alice@example.com', 'INBOX')).length, 2);
});

test('quota: over the limit gives over-quota (452 4.2.2) and stores nothing', async (t) => {
  const { store, ld } = setup(t, { 'alice@example.com': 300 });
  const req = { mailFrom: 's@example.org', recipient: 'alice@example.com', mailbox: 'alice@example.com', raw: RAW, junk: false };
  assert.equal((await ld.deliverLocal(req)).kind, 'delivered');
  assert.equal((await ld.deliverLocal(req)).kind, 'delivered');
  const r = await ld.deliverLocal(req);
  assert.equal(r.kind, 'over-quota');
  assert.deepEqual(replyForDelivery(r), { code: 452, enhanced: '4.2.2', text: 'mailbox full' });
  assert.equal((await store.list('alice@example.com', 'INBOX')).length, 2);
});

test('quota: a message larger than the whole quota fails for good (552 5.2.3): no room the user makes can take it', async (t) => {
  const { store, ld } = setup(t, { 'alice@example.com': 300 });
  const big = Buffer.concat([RAW, Buffer.alloc(400, 'a'), Buffer.from('\r\n')]);
  const r = await ld.deliverLocal({ mailFrom: 's@example.org', recipient: 'alice@example.com', mailbox: 'alice@example.com', raw: big, junk: false });
  assert.equal(r.kind, 'over-quota');
  assert.deepEqual(replyForDelivery(r), { code: 552, enhanced: '5.2.3', text: 'message larger than the mailbox quota' });
  assert.equal((await store.list('alice@example.com', 'INBOX')).length, 0);
});

test('a message that already carries our Delivered-To is a loop; unknown users are reported', async (t) => {
  const { ld } = setup(t);
  const looped = Buffer.concat([Buffer.from('Delivered-To: alice@example.com\r\n'), RAW]);
  const r = await ld.deliverLocal({ mailFrom: 's@x', recipient: 'Alice@example.com', mailbox: 'alice@example.com', raw: looped, junk: false });
  assert.equal(r.kind, 'loop');
  assert.equal(replyForDelivery(r).code, 554);
  const u = await ld.deliverLocal({ mailFrom: 's@x', recipient: 'gone@example.com', mailbox: 'gone@example.com', raw: RAW, junk: false });
  assert.equal(u.kind, 'no-such-user');
});

test('POP-before-SMTP: an address may relay for ttl after a login, then not', () => {
  const clock = new ManualClock(1000);
  const pbs = new PopBeforeSmtp({ clock, ttlMs: 600_000, maxEntries: 2 });
  assert.equal(pbs.allows('192.0.2.1'), false);
  pbs.record('::ffff:192.0.2.1');
  assert.equal(pbs.allows('192.0.2.1'), true, 'v4-mapped addresses are normalised');
  clock.advance(600_000);
  assert.equal(pbs.allows('192.0.2.1'), false);
  pbs.record('192.0.2.2');
  pbs.record('192.0.2.3');
  pbs.record('192.0.2.4');
  assert.equal(pbs.size, 2, 'bounded');
  assert.equal(pbs.allows('192.0.2.4'), true);
});

test('a folder chosen by a Sieve script: made and subscribed if missing, flags stored, one copy per folder and delivery id, quota applies; an invalid name is bad-folder', async (t) => {
  const { store, ld, registry } = setup(t, { 'alice@example.com': 1000 });
  const base = { mailFrom: 's@example.org', recipient: 'alice@example.com', mailbox: 'alice@example.com', raw: RAW, junk: true, deliveryId: 'q1' };
  const filed = await ld.deliverLocal({ ...base, folder: 'Lists/IETF', flags: ['\\Seen', '$Work'] });
  assert.deepEqual(filed.kind === 'delivered' ? filed.folder : filed, 'Lists/IETF', 'the chosen folder wins over the junk routing');
  const [meta] = await store.list('alice@example.com', 'Lists/IETF');
  assert.deepEqual([...(meta?.flags ?? [])].sort(), ['$Work', '\\Seen']);
  assert.ok((await store.listSubscriptions('alice@example.com')).includes('Lists/IETF'));
  assert.equal((await ld.deliverLocal({ ...base, folder: 'Lists/IETF' })).kind, 'duplicate', 'the same folder twice for one delivery id is one copy');
  assert.equal((await ld.deliverLocal(base)).kind, 'delivered', 'the default place is another copy');
  assert.equal((await store.list('alice@example.com', 'Junk')).length, 1);
  const bad = await ld.deliverLocal({ ...base, folder: 'a/../b' });
  assert.equal(bad.kind, 'bad-folder');
  // quota counts every copy: 2 × ~90 bytes stored, the limit 1000
  const big = Buffer.concat([RAW, Buffer.alloc(900, 0x61)]);
  assert.equal((await ld.deliverLocal({ ...base, raw: big, folder: 'Other', deliveryId: 'q2' })).kind, 'over-quota');
  assert.match(await registry.getSingleMetricAsString('spamgate_local_deliveries_total'), /result="delivered_folder"} 1/);
  assert.match(await registry.getSingleMetricAsString('spamgate_local_deliveries_total'), /result="bad_folder"} 1/);
});
