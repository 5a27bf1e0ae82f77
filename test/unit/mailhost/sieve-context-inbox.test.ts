// RFC 3501 §5.1 / RFC 5490 §3.1: INBOX always exists for mailboxexists, even before the user's Maildir is made
// (the first message to a new user) or when the listing cannot be read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sieveContextFor, type SieveContextDeps } from '../../../src/mailhost/sieve-context.ts';
import { compileSieve } from '../../../src/sieve/compile.ts';

test('mailboxexists "INBOX" holds whatever the store lists', async () => {
  const r = compileSieve('require "mailbox";\nif mailboxexists "INBOX" { keep; }');
  assert.ok(r.ok);
  for (const mailboxNames of [() => Promise.resolve([]), () => Promise.reject(new Error('EIO'))]) {
    const deps: SieveContextDeps = {
      store: { mailboxNames },
      duplicates: { load: () => Promise.resolve({ seen: () => false }), record: () => Promise.resolve() },
      subaddressDelimiter: () => '+',
      hostname: () => 'mx.corp.example',
      now: () => 0,
    };
    const ctx = await sieveContextFor(deps, 'new@corp.example', r.script, {});
    assert.equal(ctx.mailboxes.exists('INBOX'), true);
  }
});
