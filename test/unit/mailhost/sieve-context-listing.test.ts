// Sieve's mailboxexists / special-use read the user's folders at each delivery as names alone: no folder is synced,
// so a folder another program filled (no dovecot-uidlist yet) is left exactly as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sieveContextFor, type SieveContextDeps } from '../../../src/mailhost/sieve-context.ts';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'alice@example.org';

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

test('mailboxexists / specialuse_exists list folder names without creating or changing files in the folders', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-sieve-list-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const md = store.maildirOf(U);
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(md, '.Lists', sub), { recursive: true });
  await writeFile(join(md, '.Lists', 'maildirfolder'), '');
  await writeFile(join(md, '.Lists', 'new', '1700000000.M1P1.other'), 'Subject: x\r\n\r\nbody\r\n');
  const before = await tree(md);
  const r = compileSieve('require ["mailbox", "special-use"];\nif mailboxexists "Lists" { keep; }');
  assert.ok(r.ok);
  const deps: SieveContextDeps = {
    store,
    duplicates: { load: () => Promise.resolve({ seen: () => false }), record: () => Promise.resolve() },
    subaddressDelimiter: () => '+',
    hostname: () => 'mx.corp.example',
    now: () => 0,
  };
  const ctx = await sieveContextFor(deps, U, r.script, {});
  assert.equal(ctx.mailboxes.exists('Lists'), true);
  assert.equal(ctx.mailboxes.exists('INBOX'), true);
  assert.equal(ctx.mailboxes.exists('Nope'), false);
  assert.equal(ctx.mailboxes.withSpecialUse('\\junk'), 'Junk');
  assert.deepEqual(ctx.mailboxes.specialUses('Sent'), ['\\Sent']);
  assert.deepEqual(await tree(md), before, 'no dovecot-uidlist, snapshot or id file made, no message moved');
});
