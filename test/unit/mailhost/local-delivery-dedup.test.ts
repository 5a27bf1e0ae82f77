// Duplicate suppression in local delivery never claims a copy that was not stored: two recipients
// of one message that lead to one mailbox (aliases) delivered at once, and the first copy fails.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createLocalDelivery } from '../../../src/mailhost/local-delivery.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import type { MailboxStore } from '../../../src/store/mailbox-store.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const RAW = Buffer.from('From: x@example.org\r\nSubject: hello\r\n\r\nbody\r\n');

test('a concurrent copy waits for the first: if storing that fails, it is stored, not called a duplicate', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-ld-dedup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const real = createMaildirStore({ root: dir, fsync: false });
  let failures = 1;
  const store: MailboxStore = Object.assign(Object.create(real) as MailboxStore, {
    append: async (...args: Parameters<MailboxStore['append']>) => {
      if (failures-- > 0) {
        await new Promise((r) => setTimeout(r, 30));
        throw new Error('EIO: i/o error, write');
      }
      return real.append(...args);
    },
  });
  const directory = { lookup: (u: string) => ({ name: u.toLowerCase() }), quotaOf: () => undefined };
  const ld = createLocalDelivery({ store, directory, log: silentLogger, registry: createRegistry(false) });
  const base = { mailFrom: 's@example.org', mailbox: 'alice@example.com', raw: RAW, junk: false, deliveryId: 'q1' };
  const [sales, info] = await Promise.all([ld.deliverLocal({ ...base, recipient: 'sales@example.com' }), ld.deliverLocal({ ...base, recipient: 'info@example.com' })]);
  assert.equal(sales.kind, 'failed');
  assert.equal(info.kind, 'delivered', 'the second copy is stored when the first failed');
  assert.equal((await real.list('alice@example.com', 'INBOX')).length, 1);
  // The retry of the first recipient now finds the stored copy.
  assert.equal((await ld.deliverLocal({ ...base, recipient: 'sales@example.com' })).kind, 'duplicate');
});

test('a concurrent copy of a stored delivery is a duplicate', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-ld-dedup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = createMaildirStore({ root: dir, fsync: false });
  const directory = { lookup: (u: string) => ({ name: u.toLowerCase() }), quotaOf: () => undefined };
  const ld = createLocalDelivery({ store, directory, log: silentLogger, registry: createRegistry(false) });
  const base = { mailFrom: 's@example.org', mailbox: 'alice@example.com', raw: RAW, junk: false, deliveryId: 'q1' };
  const kinds = (await Promise.all([ld.deliverLocal({ ...base, recipient: 'sales@example.com' }), ld.deliverLocal({ ...base, recipient: 'info@example.com' })])).map((r) => r.kind);
  assert.deepEqual(kinds.sort(), ['delivered', 'duplicate']);
  assert.equal((await store.list('alice@example.com', 'INBOX')).length, 1);
});
