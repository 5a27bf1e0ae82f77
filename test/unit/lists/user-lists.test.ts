// Per-user sender lists: the entry normal form and the file's validation and bounds (user-list-file.ts), the re-read
// on change (user-lists.ts), and the check: whose lists a recipient uses (one user, an alias of one, not a group),
// a block entry winning over an allow entry, an allowance only for an authenticated sender, each hit for its recipient;
// and `users del` dropping the user's lists.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { usersCommand } from '../../../src/commands/users.ts';
import { createUserListCheck, userListHits } from '../../../src/checks/user-lists.ts';
import { SPF_RESULT_KEY } from '../../../src/checks/spf.ts';
import { DKIM_RESULT_KEY, DMARC_RESULT_KEY } from '../../../src/checks/dkim-dmarc.ts';
import type { CheckContext, SymbolHit } from '../../../src/checks/types.ts';
import { MAX_ENTRIES_PER_USER, normaliseEntry, readUserLists, userListsPath, writeUserLists } from '../../../src/lists/user-list-file.ts';
import { openUserLists, type UserLists } from '../../../src/lists/user-lists.ts';
import type { RecipientDirectory, RecipientResolution } from '../../../src/mailhost/types.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { createMessageView } from '../../../src/smtp/message-view.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { runCommand } from '../../helpers/command-io.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

test('entries take the lists: syntax in one normal form; bad and overlong ones are refused', () => {
  assert.deepEqual(normaliseEntry(' Boss@Corp.EXAMPLE '), { entry: 'boss@corp.example' });
  assert.deepEqual(normaliseEntry('.Shop.Example.'), { entry: '.shop.example' });
  assert.deepEqual(normaliseEntry('bücher.example'), { entry: 'xn--bcher-kva.example' });
  assert.ok('error' in normaliseEntry('not an entry'));
  assert.ok('error' in normaliseEntry(''));
  assert.match(JSON.stringify(normaliseEntry(`${'a'.repeat(260)}.example`)), /too long/);
});

test('the file is validated whole: each problem names the user; bounds per user', (t) => {
  const file = userListsPath(tempDir(t, 'spamgate-user-lists-'));
  assert.deepEqual(readUserLists(file), { ok: true, data: {} });
  writeFileSync(file, JSON.stringify({ 'a@x.example': { allow: ['ok.example', 'bad entry'], deny: [] }, '../evil': { allow: [] } }));
  const r = readUserLists(file);
  assert.equal(r.ok, false);
  const problems = r.ok ? '' : r.problems.join('\n');
  assert.match(problems, /a@x\.example\.allow: expected user@domain/);
  assert.match(problems, /unknown key "deny"/);
  assert.match(problems, /"\.\.\/evil": not a user name/);
  writeFileSync(file, JSON.stringify({ 'a@x.example': { allow: Array.from({ length: MAX_ENTRIES_PER_USER + 1 }, (_, i) => `p${i}.example`) } }));
  assert.match(JSON.stringify(readUserLists(file)), /more than 200 entries/);
});

test('a path that is no regular file (a link to a device or a named pipe) is refused, not read: reading would never end', (t) => {
  const dir = tempDir(t, 'spamgate-user-lists-special-');
  symlinkSync('/dev/zero', userListsPath(dir));
  // in a child with a deadline: an endless read would hold the test's own thread
  const script = `import { readUserLists } from ${JSON.stringify(path.resolve('src/lists/user-list-file.ts'))}; process.stdout.write(JSON.stringify(readUserLists(process.argv[1])));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, userListsPath(dir)], { timeout: 10_000, encoding: 'utf8', maxBuffer: 1 << 20 });
  assert.equal(r.status, 0, `${r.error?.message ?? ''} ${r.stderr}`);
  assert.match(r.stdout, /"ok":false.*not a regular file/);
});

const RESOLVE: Record<string, RecipientResolution> = {
  'alice@localhost': { kind: 'local', mailboxes: ['alice@localhost'], remote: [] },
  'ali@localhost': { kind: 'local', mailboxes: ['alice@localhost'], remote: [] },
  'team@localhost': { kind: 'local', mailboxes: ['alice@localhost', 'bob@localhost'], remote: [] },
  'bob@localhost': { kind: 'local', mailboxes: ['bob@localhost'], remote: [] },
};
const directory: RecipientDirectory = { isLocalDomain: () => true, resolve: (a) => RESOLVE[a] ?? { kind: 'unknown' } };

function ctx(mailFrom: string, from: string, rcpts: string[], spfPass: boolean): CheckContext {
  const results = new Map<string, unknown>(spfPass ? [[SPF_RESULT_KEY, { result: 'pass', identity: 'mailfrom', domain: mailFrom.split('@')[1] }]] : []);
  const message = createMessageView(Buffer.from(`From: ${from}\r\nSubject: x\r\n\r\nbody\r\n`));
  return { phase: 'data', session: {} as CheckContext['session'], envelope: { mailFrom, rcptTo: rcpts, smtputf8: false, body8bit: false }, message, signal: new AbortController().signal, now: 0, log: silentLogger, addHeader: () => undefined, results, hitsSoFar: [] };
}

test('each recipient by its own user: an alias of one user counts, a group does not; block wins; allow needs authentication', async (t) => {
  const dataDir = tempDir(t, 'spamgate-user-lists-check-');
  writeUserLists(userListsPath(dataDir), { 'alice@localhost': { allow: ['partner.example', 'x@shop.example'], block: ['shop.example'] } });
  const lists = openUserLists(dataDir, silentLogger);
  const check = createUserListCheck({ directory, lists, hitsTotal: userListHits(createRegistry(false)), subaddressDelimiter: '+' });
  const run = async (c: CheckContext): Promise<SymbolHit[]> => check.run(c);
  assert.deepEqual(await run(ctx('n@partner.example', '<n@partner.example>', ['alice@localhost', 'ali@localhost', 'team@localhost', 'bob@localhost'], true)), [
    { symbol: 'USER_ALLOW', options: ['partner.example', 'spf'], rcpt: 'alice@localhost' },
    { symbol: 'USER_ALLOW', options: ['partner.example', 'spf'], rcpt: 'ali@localhost' },
  ]);
  assert.deepEqual(await run(ctx('n@partner.example', '<n@partner.example>', ['alice@localhost'], false)), [{ symbol: 'USER_ALLOW_UNAUTHENTICATED', options: ['partner.example'], rcpt: 'alice@localhost' }]);
  // the header From alone matches; x@shop.example is allowed but shop.example blocked: block wins
  assert.deepEqual(await run(ctx('ok@other.example', '"X" <x@shop.example>', ['alice@localhost'], true)), [{ symbol: 'USER_BLOCK', options: ['shop.example'], rcpt: 'alice@localhost' }]);
  // one look at the file a message, however many recipients: the same lists for each
  let looks = 0;
  const counted: UserLists = { current: () => (looks++, lists.current()) };
  const once = createUserListCheck({ directory, lists: counted, hitsTotal: userListHits(createRegistry(false)), subaddressDelimiter: '+' });
  await once.run(ctx('n@partner.example', '<n@partner.example>', ['alice@localhost', 'ali@localhost', 'team@localhost', 'bob@localhost'], true));
  assert.equal(looks, 1);
  // a change to the file counts at the next look-up
  writeUserLists(userListsPath(dataDir), { 'alice@localhost': { allow: [], block: [] } });
  assert.deepEqual(await run(ctx('ok@other.example', '<x@shop.example>', ['alice@localhost'], true)), []);
});

test("an envelope sender is vouched for by SPF only: a replayed DKIM/DMARC pass of another From does not earn its allowance", async (t) => {
  const dataDir = tempDir(t, 'spamgate-user-lists-auth-');
  writeUserLists(userListsPath(dataDir), { 'alice@localhost': { allow: ['friend@mail.example'], block: [] } });
  const check = createUserListCheck({ directory, lists: openUserLists(dataDir, silentLogger), hitsTotal: userListHits(createRegistry(false)), subaddressDelimiter: '+' });
  // the spammer's own message, signed by the shared provider (From: spammer@mail.example, DKIM and DMARC pass), sent
  // again from elsewhere under the forged envelope sender friend@mail.example (SPF does not pass)
  const replay = ctx('friend@mail.example', '<spammer@mail.example>', ['alice@localhost'], false);
  replay.results.set(DKIM_RESULT_KEY, [{ status: { result: 'pass' }, signingDomain: 'mail.example' }]);
  replay.results.set(DMARC_RESULT_KEY, { status: { result: 'pass', header: { from: 'mail.example' } }, domain: 'mail.example', alignment: { spf: { result: false }, dkim: { result: 'mail.example' } } });
  assert.deepEqual(await check.run(replay), [{ symbol: 'USER_ALLOW_UNAUTHENTICATED', options: ['friend@mail.example'], rcpt: 'alice@localhost' }]);
  // SPF passes for the spammer's own envelope domain, and the listed address is only in the header From: nothing
  const spoof = ctx('x@attacker.example', '<friend@mail.example>', ['alice@localhost'], true);
  assert.deepEqual(await check.run(spoof), [{ symbol: 'USER_ALLOW_UNAUTHENTICATED', options: ['friend@mail.example'], rcpt: 'alice@localhost' }]);
  // nor a DKIM pass of a third party (the spammer's own domain, or a lookalike under it)
  spoof.results.set(DKIM_RESULT_KEY, [{ status: { result: 'pass' }, signingDomain: 'attacker.example' }, { status: { result: 'pass' }, signingDomain: 'mail.example.attacker.example' }]);
  assert.deepEqual(await check.run(spoof), [{ symbol: 'USER_ALLOW_UNAUTHENTICATED', options: ['friend@mail.example'], rcpt: 'alice@localhost' }]);
  // the listed From itself signed (a forwarded copy: the envelope matched too, without SPF): the From earns it
  const forwarded = ctx('friend@mail.example', '<friend@mail.example>', ['alice@localhost'], false);
  forwarded.results.set(DKIM_RESULT_KEY, [{ status: { result: 'pass' }, signingDomain: 'mail.example' }]);
  assert.deepEqual(await check.run(forwarded), [{ symbol: 'USER_ALLOW', options: ['friend@mail.example', 'dkim'], rcpt: 'alice@localhost' }]);
});

test('a change that would make the file too large to read is refused: the lists stay readable', async (t) => {
  const dir = tempDir(t, 'spamgate-user-lists-size-');
  const dataDir = path.join(dir, 'data');
  const configFile = path.join(dir, 'spamgate.yaml');
  writeFileSync(configFile, `data_dir: ${dataDir}\nlocal_domains: [example.com]\nmailhost: { watch_files: false }\n`);
  const cli = (positional: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> => runCommand(usersCommand, { flags: new Map(positional[0] === 'add' ? [['password-stdin', true]] : []), positional, configFile }, stdin);
  assert.equal((await cli(['add', 'carol@example.com'], 'carol-password\n')).code, 0);
  // within the bounds (entries of at most 254 characters, 200 a user, 50000 in all), written compactly by hand: just
  // under the size the instance reads; the command's indented rewrite would pass it
  const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example`;
  const data: Record<string, { allow: string[]; block: string[] }> = {};
  for (let u = 0; u < 162; u++) data[`u${u}@example.com`] = { allow: Array.from({ length: 200 }, () => long), block: [] };
  writeFileSync(userListsPath(dataDir), JSON.stringify(data));
  assert.equal(readUserLists(userListsPath(dataDir)).ok, true);
  // the command fails (cli.ts: the message, exit 1) and writes nothing
  await assert.rejects(cli(['allow', 'carol@example.com', 'friend.example']), /over 8388608; nothing changed/);
  assert.equal(readUserLists(userListsPath(dataDir)).ok, true, 'the lists no longer read');
});

test('`users del` drops the deleted user\'s lists: a user added later under that name starts with none', async (t) => {
  const dir = tempDir(t, 'spamgate-user-lists-del-');
  const configFile = path.join(dir, 'spamgate.yaml');
  writeFileSync(configFile, `data_dir: ${path.join(dir, 'data')}\nlocal_domains: [example.com]\nmailhost: { watch_files: false }\n`);
  const cli = (positional: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> => runCommand(usersCommand, { flags: new Map(positional[0] === 'add' ? [['password-stdin', true]] : []), positional, configFile }, stdin);
  assert.equal((await cli(['add', 'carol@example.com'], 'carol-password\n')).code, 0);
  assert.equal((await cli(['allow', 'carol@example.com', 'friend.example'])).code, 0);
  assert.equal((await cli(['lists', 'carol@example.com'])).out, 'allow\tfriend.example\n');
  const del = await cli(['del', 'carol@example.com']);
  assert.equal(del.code, 0, del.err);
  assert.match(del.out, /the sender lists are not/);
  assert.equal((await cli(['add', 'carol@example.com'], 'carol-password\n')).code, 0);
  assert.equal((await cli(['lists', 'carol@example.com'])).out, '(no entries for carol@example.com)\n');
});

test('a BATV-tagged envelope sender (prvs=, a new tag each message) matches its plain address: the entry a digest allow or block link makes', async (t) => {
  const dataDir = tempDir(t, 'spamgate-user-lists-batv-');
  writeUserLists(userListsPath(dataDir), { 'alice@localhost': { allow: ['news@partner.example'], block: ['promo@bad.example'] } });
  const check = createUserListCheck({ directory, lists: openUserLists(dataDir, silentLogger), hitsTotal: userListHits(createRegistry(false)), subaddressDelimiter: '+' });
  // SPF passes for the envelope domain; the header From is another mailbox, so only the envelope can match
  assert.deepEqual(await check.run(ctx('prvs=1123abcdef=News@partner.example', '<desk@partner.example>', ['alice@localhost'], true)), [
    { symbol: 'USER_ALLOW', options: ['news@partner.example', 'spf'], rcpt: 'alice@localhost' },
  ]);
  assert.deepEqual(await check.run(ctx('prvs=0999012345=promo@bad.example', '<x@other.example>', ['alice@localhost'], false)), [{ symbol: 'USER_BLOCK', options: ['promo@bad.example'], rcpt: 'alice@localhost' }]);
});
