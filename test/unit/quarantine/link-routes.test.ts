// The digest's list link routes on a real HTTP server on 127.0.0.1 over a real lists file: what an allow or block
// link puts on the list for tagged envelope senders (BATV, SRS), none for senders with bidi or control characters,
// and a lists token that acts for its own user only.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { readUserLists, userListsPath, writeUserLists } from '../../../src/lists/user-list-file.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { createLinkRoutes, senderEntry } from '../../../src/quarantine/link-routes.ts';
import { createLinkTokens } from '../../../src/quarantine/link-token.ts';
import { openQuarantine } from '../../../src/quarantine/store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { T0, tempDir } from '../queue/helpers.ts';

const DAY = 86_400_000;

test('the entry of a BATV-tagged or SRS-rewritten envelope sender is the address it stands for, which the next message matches', () => {
  // a prvs= tag changes with every day and message: the tagged address as an entry would never match again
  assert.equal(senderEntry('prvs=1123abcdef=News@Partner.example'), 'news@partner.example');
  assert.equal(senderEntry('PRVS=0999012345=billing@shop.example'), 'billing@shop.example');
  // SRS0 (one forwarder) and SRS1 (two or more): the original sender, not the forwarder's address of the day
  assert.equal(senderEntry('SRS0=HHH1=TT=orig.example=Jane@fwd.example'), 'jane@orig.example');
  assert.equal(senderEntry('SRS0+AbCd=Z2=orig.example=a=b@fwd.example'), 'a=b@orig.example');
  assert.equal(senderEntry('SRS1=XXXX=first.example==HHHH=TT=orig.example=jane@second.example'), 'jane@orig.example');
  // malformed tags are left as they are (still one plain mailbox)
  assert.equal(senderEntry('prvs=zz=user@a.example'), 'prvs=zz=user@a.example');
  assert.equal(senderEntry('SRS0=x@fwd.example'), 'srs0=x@fwd.example');
  // unchanged: a plain sender, and none for the null sender
  assert.equal(senderEntry('Plain@Example.COM'), 'plain@example.com');
  assert.equal(senderEntry(''), undefined);
});

test('a sender with control or format characters (bidi overrides) in it gets no list links: the page could not show truthfully what is listed', () => {
  // "a\u202Eelpmaxe.rentrap…@attacker.example" displays reversed: the user would allow the attacker's own address
  assert.equal(senderEntry('news\u202Eelpmaxe.rentrap@attacker.example'), undefined);
  assert.equal(senderEntry('a\u200Bb@attacker.example'), undefined);
  assert.equal(senderEntry('a\u0007b@attacker.example'), undefined);
  assert.equal(senderEntry('a\u2028b@attacker.example'), undefined);
  // a Unicode local part as such is fine (SMTPUTF8)
  assert.equal(senderEntry('Jörg@example.com'), 'jörg@example.com');
});

async function rig(t: TestContext, userOf: (recipient: string) => string | undefined) {
  const dir = await tempDir(t, 'spamgate-link-routes-');
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const quarantine = await openQuarantine({ dir: path.join(dir, 'quarantine'), maxAgeMs: 30 * DAY, maxSize: 0, fsync: false, clock, registry, log: silentLogger });
  const tokens = createLinkTokens(Buffer.alloc(32, 7));
  const file = userListsPath(dir);
  const sink = { enqueue: () => Promise.reject(new Error('no delivery here')) };
  const routes = createLinkRoutes({ tokens, quarantine, sink: sink as never, learn: false, clock, registry, log: silentLogger, lists: { file, userOf } });
  const server = createServer((req, res) => {
    const route = routes[(req.url ?? '/').split('?')[0] ?? ''];
    if (route) void route(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const listsToken = (user: string): string => tokens.sign({ action: 'lists', id: '', recipient: user, expires: T0 + DAY });
  return { file, base, listsToken };
}

test('a lists token acts only for the user it names: once that name reaches another user (an alias made after a users del) it is refused', async (t) => {
  // alice was deleted and alice@localhost is now an alias of bob: the directory resolves her name to bob
  const { file, base, listsToken } = await rig(t, (r) => (r === 'alice@localhost' || r === 'bob@localhost' ? 'bob@localhost' : undefined));
  writeUserLists(file, { 'bob@localhost': { allow: ['bob-friend@else.example'], block: [] } });
  const token = listsToken('alice@localhost');
  const get = await fetch(`${base}/quarantine/lists?t=${token}`);
  const page = await get.text();
  assert.doesNotMatch(page, /bob-friend/, "bob's entries are never shown through alice's token");
  assert.notEqual(get.status, 200);
  const post = await fetch(`${base}/quarantine/lists`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ t: token, entry: 'bob-friend@else.example' }).toString() });
  await post.text();
  assert.notEqual(post.status, 200);
  const r = readUserLists(file);
  assert.ok(r.ok);
  assert.deepEqual(r.data['bob@localhost']?.allow, ['bob-friend@else.example'], "bob's list is unchanged");
  // bob's own token still works
  const own = await fetch(`${base}/quarantine/lists?t=${listsToken('bob@localhost')}`);
  assert.equal(own.status, 200);
  assert.match(await own.text(), /bob-friend@else\.example/);
});
