// `spamgate users`: add/passwd/del/list with --password-stdin; the file holds scrypt hashes only; the directory sees changes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { usersCommand } from '../../../src/commands/users.ts';
import { UsageError, type CommandArgs } from '../../../src/commands/types.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { createUserDirectory } from '../../../src/mailhost/directory.ts';
import { MAX_DIRECTORY_FILE_BYTES, readDirectoryFile, readUsersFile } from '../../../src/mailhost/users.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { runCommand } from '../../helpers/command-io.ts';
import { bigMessage, openHostProcess } from '../../helpers/alias-mailhost.ts';
import { usersSection } from '../../../src/config/sections/mailhost.ts';

/** `mailhost` and `users` are the config's own sections (YAML flow maps), for tests of the default quota and config users. */
function setup(t: TestContext, sections: { mailhost?: string; users?: string } = {}): { dir: string; configFile: string; cli: (argv: string[], stdin?: string) => Promise<{ code: number; out: string; err: string }> } {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-users-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'spamgate.yaml');
  const users = sections.users === undefined ? '' : `users: ${sections.users}\n`;
  writeFileSync(configFile, `data_dir: ${path.join(dir, 'data')}\nlocal_domains: [example.com]\nmailhost: { watch_files: false${sections.mailhost ? `, ${sections.mailhost}` : ''} }\n${users}`);
  const cli = async (argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> => {
    const flags = new Map<string, string | true>();
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] ?? '';
      if (a === '--quota') flags.set('quota', argv[++i] ?? '');
      else if (a.startsWith('--')) flags.set(a.slice(2), true);
      else positional.push(a);
    }
    const args: CommandArgs = { flags, positional, configFile };
    return runCommand(usersCommand, args, stdin);
  };
  return { dir, configFile, cli };
}

test('add, list, passwd, del with --password-stdin; only scrypt hashes on disk; the directory authenticates', async (t) => {
  const { dir, configFile, cli } = setup(t);
  assert.equal((await cli(['add', 'Alice@Example.com', '--password-stdin'], 'first-password\n')).code, 0);
  assert.equal((await cli(['add', 'bob@example.com', '--password-stdin', '--apop', '--quota', '10MB'], 'bob-password\n')).code, 0);
  const file = path.join(dir, 'data', 'users.yaml');
  const text = readFileSync(file, 'utf8');
  assert.doesNotMatch(text, /first-password/, 'no plaintext password for a non-APOP user');
  assert.match(text, /alice@example\.com:\n\s+password: \$scrypt\$16384\$8\$1\$/);
  assert.match(text, /apop_secret: bob-password/, 'APOP secret only for the user who asked');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const list = await cli(['list']);
  assert.equal(list.out, 'alice@example.com\t-\t-\tfile\t-\t-\nbob@example.com\tapop\t10485760\tfile\t-\t-\n');

  const { config, dataDir } = loadConfig({ file: configFile });
  const d = createUserDirectory({ config, dataDir, log: silentLogger });
  t.after(() => d.close());
  assert.equal(await d.authenticate('ALICE@example.com', 'first-password'), 'alice@example.com');
  assert.equal(await d.authenticate('alice@example.com', 'wrong-password'), undefined);
  assert.equal(await d.authenticate('nobody@example.com', 'first-password'), undefined);
  assert.equal(d.resolve('alice@example.com').kind, 'local');

  assert.equal((await cli(['passwd', 'alice@example.com', '--password-stdin'], 'second-password\r\n')).code, 0);
  assert.equal((await cli(['passwd', 'bob@example.com', '--password-stdin', '--no-apop'], 'bob-password-2\n')).code, 0);
  assert.doesNotMatch(readFileSync(file, 'utf8'), /bob-password/);
  d.reload();
  assert.equal(await d.authenticate('alice@example.com', 'first-password'), undefined);
  assert.equal(await d.authenticate('alice@example.com', 'second-password'), 'alice@example.com');
  assert.equal(d.quotaOf('bob@example.com'), 10_485_760, 'passwd keeps the quota');

  assert.equal((await cli(['del', 'alice@example.com'])).code, 0);
  d.reload();
  assert.equal(d.resolve('alice@example.com').kind, 'unknown');
  assert.equal((await cli(['del', 'alice@example.com'])).code, 1);
});

test('refuses non-local domains, unsafe names, duplicates, short passwords, and prompting without a terminal', async (t) => {
  const { cli } = setup(t);
  await assert.rejects(cli(['add', 'x@elsewhere.net', '--password-stdin'], 'long-enough\n'), UsageError);
  await assert.rejects(cli(['add', '../../etc@example.com', '--password-stdin'], 'long-enough\n'), UsageError);
  await assert.rejects(cli(['add', 'a/b@example.com', '--password-stdin'], 'long-enough\n'), UsageError);
  await assert.rejects(cli(['add', 'x@example.com', '--password-stdin'], 'short\n'), /at least 8/);
  await assert.rejects(cli(['add', 'x@example.com'], ''), /not a terminal/);
  assert.equal((await cli(['add', 'x@example.com', '--password-stdin'], 'long-enough\n')).code, 0);
  assert.equal((await cli(['add', 'X@example.com', '--password-stdin'], 'long-enough\n')).code, 1);
});

test('del removes a user of the file at a domain already taken out of local_domains (a reload refuses to drop a domain its users still use); add there stays refused', async (t) => {
  const { dir, configFile, cli } = setup(t);
  assert.equal((await cli(['add', 'old@example.com', '--password-stdin'], 'long-enough\n')).code, 0);
  assert.equal((await cli(['add', 'keep@example.com', '--password-stdin'], 'long-enough\n')).code, 0);
  // the domain is taken out of the config first: the running instance refuses that reload while old@ is in the users file
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('local_domains: [example.com]', 'local_domains: [example.org]'));
  // was: "domain example.com is not in local_domains", so the user could not be removed without putting the domain back
  const r = await cli(['del', 'Old@example.com']);
  assert.equal(r.code, 0, r.err);
  const text = readFileSync(path.join(dir, 'data', 'users.yaml'), 'utf8');
  assert.doesNotMatch(text, /old@example\.com/);
  assert.match(text, /keep@example\.com/);
  assert.equal((await cli(['del', 'nobody@example.com'])).code, 1, 'no such user');
  await assert.rejects(cli(['add', 'new@example.com', '--password-stdin'], 'long-enough\n'), /not in local_domains/);
  await assert.rejects(cli(['del', '../x@example.com']), UsageError);
});

test('the directory watches the users file and picks up a CLI change without reload()', async (t) => {
  const { dir, cli } = setup(t);
  const data = path.join(dir, 'data');
  assert.equal((await cli(['add', 'w@example.com', '--password-stdin'], 'watch-password\n')).code, 0);
  const { config } = loadConfig({ inline: { local_domains: ['example.com'] }, dataDir: data });
  const d = createUserDirectory({ config, dataDir: data, log: { ...silentLogger, info: () => changed(), child: () => silentLogger } });
  t.after(() => d.close());
  let changed: () => void = () => undefined;
  const reloaded = new Promise<void>((resolve) => (changed = resolve));
  // The watcher does not hold the event loop open (persistent: false); this bounded timer does, and fails the wait if it ends.
  const guard = setTimeout(() => changed(), 10_000);
  t.after(() => clearTimeout(guard));
  assert.equal(d.resolve('v@example.com').kind, 'unknown');
  assert.equal((await cli(['add', 'v@example.com', '--password-stdin'], 'watch-password\n')).code, 0);
  await reloaded;
  assert.equal(d.resolve('v@example.com').kind, 'local');
});

test('a users or aliases file that is too large, binary or a directory is refused by name, without reading it all', async (t) => {
  const { dir } = setup(t);
  const huge = path.join(dir, 'huge.yaml');
  writeFileSync(huge, '');
  truncateSync(huge, MAX_DIRECTORY_FILE_BYTES + 1);
  const tooLarge = readUsersFile(huge);
  assert.equal(tooLarge.ok, false);
  assert.match(tooLarge.ok ? '' : tooLarge.problems.join('\n'), /huge\.yaml: is \d+ bytes; a users file is at most/);
  const binary = path.join(dir, 'binary.yaml');
  writeFileSync(binary, Buffer.from([0x61, 0x3a, 0x00, 0xff]));
  const bin = readUsersFile(binary);
  assert.match(bin.ok ? '' : bin.problems.join('\n'), /binary\.yaml: not UTF-8 text/);
  assert.match(JSON.stringify(readDirectoryFile(dir, 'aliases file')), /is a directory/);
  assert.equal(readDirectoryFile(path.join(dir, 'missing.yaml'), 'aliases file'), undefined);
  const missing = readUsersFile(path.join(dir, 'missing.yaml'));
  assert.deepEqual(missing, { ok: true, entries: {}, exists: false });
});

test('a lock left by an interrupted users command is taken over; one held by a live one is refused', async (t) => {
  const { dir, cli } = setup(t);
  const lock = path.join(dir, 'data', 'users.yaml.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  // what Ctrl-C left while the command waited for the password on stdin: its process is gone
  writeFileSync(lock, '');
  const added = await cli(['add', 'alice@example.com', '--password-stdin'], 'first-password\n');
  assert.equal(added.code, 0, added.err);
  assert.equal(existsSync(lock), false, 'released');
  // stands in for another `spamgate users` at work
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => other.kill('SIGKILL'));
  writeFileSync(lock, `${other.pid}\n`);
  await assert.rejects(cli(['add', 'bob@example.com', '--password-stdin'], 'bob-password\n'), /another `spamgate users` \(pid \d+\) is changing .*users\.yaml/);
  other.kill('SIGKILL');
  await new Promise((r) => other.once('exit', r));
  assert.equal((await cli(['add', 'bob@example.com', '--password-stdin'], 'bob-password\n')).code, 0);
  assert.equal(existsSync(lock), false);
});

test('--password-stdin takes the first line without waiting for the end of input (a terminal, a pipe kept open)', async (t) => {
  const { dir, configFile } = setup(t);
  const stdin = new PassThrough();
  stdin.write('typed-then-enter\n');
  t.after(() => stdin.end());
  const out = new PassThrough();
  const run = usersCommand.run({ flags: new Map([['password-stdin', true]]), positional: ['add', 'carol@example.com'], configFile }, { stdout: out, stderr: new PassThrough(), stdin, isTty: false });
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still waiting for the end of stdin'), 10_000)));
  const code = await Promise.race([run, waited]);
  clearTimeout(timer);
  assert.equal(code, 0);
  assert.match(readFileSync(path.join(dir, 'data', 'users.yaml'), 'utf8'), /carol@example\.com:\n {2}password: \$scrypt\$/);
});

test('list shows the vacation of each user: on, on until its last day, ended, or -', async (t) => {
  const { dir, cli } = setup(t);
  assert.equal((await cli(['add', 'a@example.com', '--password-stdin'], 'first-password\n')).code, 0);
  const file = path.join(dir, 'data', 'users.yaml');
  const hash = /password: (\S+)/.exec(readFileSync(file, 'utf8'))?.[1] ?? '';
  const entry = (vacation: string): string => `  password: ${hash}\n${vacation}`;
  writeFileSync(
    file,
    [
      `a@example.com:\n${entry('')}`,
      `b@example.com:\n${entry('  vacation: { message: away }\n')}`,
      `c@example.com:\n${entry('  vacation: { message: away, until: 2000-01-01 }\n')}`,
      `d@example.com:\n${entry('  vacation: { message: away, until: 2999-12-31 }\n')}`,
    ].join(''),
    { mode: 0o600 },
  );
  const list = await cli(['list']);
  assert.equal(list.code, 0, list.err);
  assert.deepEqual(list.out.trimEnd().split('\n').map((l) => l.split('\t')[4]), ['-', 'on', 'ended 2000-01-01', 'on until 2999-12-31']);
});

test('list shows the active Sieve script of each user: its name, (unnamed) for one set before names, or -', async (t) => {
  const { dir, cli } = setup(t);
  for (const u of ['alice', 'bob', 'carol']) assert.equal((await cli(['add', `${u}@example.com`, '--password-stdin'], 'some-password\n')).code, 0);
  const script = path.join(dir, 's.sieve');
  writeFileSync(script, 'keep;\n');
  assert.equal((await cli(['sieve', 'alice@example.com', 'set', script])).code, 0);
  // a script delivery runs with no name beside it (set by an older spamgate)
  const bobSieve = path.join(dir, 'data', 'mail', 'example.com', 'bob', 'sieve');
  mkdirSync(bobSieve, { recursive: true });
  writeFileSync(path.join(bobSieve, 'active.sieve'), 'keep;\n');
  const list = await cli(['list']);
  assert.equal(list.code, 0, list.err);
  assert.deepEqual(list.out.trimEnd().split('\n').map((l) => l.split('\t')[5]), ['spamgate-cli', '(unnamed)', '-']);
});

const HASH = '$scrypt$16384$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=';

test('list shows the quota a user gets: their own in bytes, else mailhost.default_quota marked (default), else -', async (t) => {
  const { cli } = setup(t, { mailhost: 'default_quota: 1g', users: `{ cfg@example.com: { password: "${HASH}" } }` });
  assert.equal((await cli(['add', 'own@example.com', '--password-stdin', '--quota', '10MB'], 'own-password\n')).code, 0);
  assert.equal((await cli(['add', 'plain@example.com', '--password-stdin'], 'plain-password\n')).code, 0);
  const list = await cli(['list']);
  assert.equal(list.code, 0, list.err);
  assert.deepEqual(
    list.out.trimEnd().split('\n').map((l) => l.split('\t').slice(0, 4)),
    [
      ['cfg@example.com', '-', '1073741824 (default)', 'config'],
      ['own@example.com', '-', '10485760', 'file'],
      ['plain@example.com', '-', '1073741824 (default)', 'file'],
    ],
  );
  // without a default quota a user with none of their own has none: -
  const bare = setup(t);
  assert.equal((await bare.cli(['add', 'plain@example.com', '--password-stdin'], 'plain-password\n')).code, 0);
  assert.equal((await bare.cli(['list'])).out, 'plain@example.com\t-\t-\tfile\t-\t-\n');
});

test('quota sets a user\'s quota in the users file (config size units) and default drops it; the rest of the entry is kept', async (t) => {
  const { dir, configFile, cli } = setup(t, { mailhost: 'default_quota: 1g' });
  assert.equal((await cli(['add', 'bob@example.com', '--password-stdin', '--apop'], 'bob-password\n')).code, 0);
  const file = path.join(dir, 'data', 'users.yaml');
  const before = readUsersFile(file);
  const set = await cli(['quota', 'Bob@Example.com', '2.5g']);
  assert.equal(set.code, 0, set.err);
  assert.equal(set.out, 'quota of bob@example.com: 2684354560 bytes\n');
  const after = readUsersFile(file);
  assert.ok(before.ok && after.ok);
  assert.deepEqual(after.entries['bob@example.com'], { ...before.entries['bob@example.com'], quota: 2_684_354_560 }, 'password hash and APOP secret kept');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(existsSync(`${file}.lock`), false, 'written under the users lock, released');
  const { config, dataDir } = loadConfig({ file: configFile });
  const d = createUserDirectory({ config, dataDir, log: silentLogger });
  t.after(() => d.close());
  assert.equal(d.quotaOf('bob@example.com'), 2_684_354_560);
  assert.equal((await cli(['quota', 'bob@example.com', '512k'])).code, 0);
  d.reload();
  assert.equal(d.quotaOf('bob@example.com'), 524_288);
  const back = await cli(['quota', 'bob@example.com', 'default']);
  assert.equal(back.code, 0, back.err);
  assert.equal(back.out, 'quota of bob@example.com: the default (1073741824 bytes)\n');
  const dropped = readUsersFile(file);
  assert.ok(dropped.ok);
  assert.equal('quota' in (dropped.entries['bob@example.com'] ?? {}), false);
  d.reload();
  assert.equal(d.quotaOf('bob@example.com'), 1_073_741_824);
  assert.match((await cli(['list'])).out, /^bob@example\.com\tapop\t1073741824 \(default\)\tfile\t/);
});

test('quota refuses a bad SIZE (exit 2, naming it), an unknown user or one of the config\'s users: section (exit 1); the file is unchanged', async (t) => {
  const { dir, cli } = setup(t, { users: `{ cfg@example.com: { password: "${HASH}" } }` });
  assert.equal((await cli(['add', 'bob@example.com', '--password-stdin', '--quota', '10m'], 'bob-password\n')).code, 0);
  const file = path.join(dir, 'data', 'users.yaml');
  const before = readFileSync(file, 'utf8');
  for (const bad of ['lots', '10x', '-5m', '1e9', '']) {
    await assert.rejects(cli(['quota', 'bob@example.com', bad]), (err: Error) => err instanceof UsageError && err.message === `SIZE: expected a size such as 500MB, 2g or 1048576 (bytes), found ${JSON.stringify(bad)}`, bad);
  }
  // a size past what the file holds exactly (it would be written as a float the file's own check refuses)
  await assert.rejects(cli(['quota', 'bob@example.com', '99999999999g']), /SIZE: expected a size/);
  await assert.rejects(cli(['add', 'big@example.com', '--password-stdin', '--quota', '99999999999g'], 'big-password\n'), /--quota: expected a size/);
  await assert.rejects(cli(['quota', 'bob@example.com']), /users quota needs an ADDRESS and a SIZE/);
  await assert.rejects(cli(['quota', 'bob@example.com', '1g', 'extra']), /too many arguments/);
  await assert.rejects(cli(['quota', 'bob@example.com', '1g', '--quota', '2g']), /not --quota/);
  await assert.rejects(cli(['quota', 'bob@elsewhere.net', '1g']), /not in local_domains/);
  const unknown = await cli(['quota', 'nobody@example.com', '1g']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.err, 'no such user nobody@example.com\n');
  const inConfig = await cli(['quota', 'cfg@example.com', '1g']);
  assert.equal(inConfig.code, 1);
  assert.match(inConfig.err, /cfg@example\.com is defined in the config file's users: section; change it there/);
  assert.equal(readFileSync(file, 'utf8'), before);
});

test('a running directory (watching the data directory) picks up a quota change without reload()', async (t) => {
  const { dir, cli } = setup(t);
  const data = path.join(dir, 'data');
  assert.equal((await cli(['add', 'q@example.com', '--password-stdin'], 'watch-password\n')).code, 0);
  const { config } = loadConfig({ inline: { local_domains: ['example.com'], mailhost: { default_quota: '1m' } }, dataDir: data });
  let changed: () => void = () => undefined;
  const reloaded = new Promise<void>((resolve) => (changed = resolve));
  const d = createUserDirectory({ config, dataDir: data, log: { ...silentLogger, info: () => changed(), child: () => silentLogger } });
  t.after(() => d.close());
  // The watcher does not hold the event loop open (persistent: false); this bounded timer does, and fails the wait if it ends.
  const guard = setTimeout(() => changed(), 10_000);
  t.after(() => clearTimeout(guard));
  assert.equal(d.quotaOf('q@example.com'), 1_048_576);
  assert.equal((await cli(['quota', 'q@example.com', '3m'])).code, 0);
  await reloaded;
  assert.equal(d.quotaOf('q@example.com'), 3_145_728);
});

test('quota and add --quota refuse a size of 0 bytes (a fraction rounding to 0 too): every message to the user would be returned as larger than the whole quota', async (t) => {
  const { dir, cli } = setup(t, { mailhost: 'default_quota: 1g' });
  assert.equal((await cli(['add', 'bob@example.com', '--password-stdin', '--quota', '10m'], 'bob-password\n')).code, 0);
  const file = path.join(dir, 'data', 'users.yaml');
  const before = readFileSync(file, 'utf8');
  for (const zero of ['0', '0k', '0.4', '0.0001k']) {
    await assert.rejects(cli(['quota', 'bob@example.com', zero]), (err: Error) => err instanceof UsageError && /SIZE: .*0 bytes.*default/.test(err.message), zero);
  }
  await assert.rejects(cli(['add', 'zero@example.com', '--password-stdin', '--quota', '0'], 'zero-password\n'), /--quota: .*0 bytes/);
  assert.equal(readFileSync(file, 'utf8'), before);
  // the smallest quota there is, one byte, is taken
  assert.equal((await cli(['quota', 'bob@example.com', '1'])).out, 'quota of bob@example.com: 1 bytes\n');
});

test('quota: a bad SIZE is bad usage (exit 2) for a user of the config\'s users: section too, as for any other', async (t) => {
  const { cli } = setup(t, { users: `{ cfg@example.com: { password: "${HASH}" } }` });
  await assert.rejects(cli(['quota', 'cfg@example.com', 'lots']), (err: Error) => err instanceof UsageError && /SIZE: expected a size/.test(err.message));
  await assert.rejects(cli(['quota', 'cfg@example.com']), (err: Error) => err instanceof UsageError && /needs an ADDRESS and a SIZE/.test(err.message));
});

test('list --json: one array, an object a user with what the text listing shows (quota in bytes and whether it is the default)', async (t) => {
  const { dir, cli } = setup(t, { mailhost: 'default_quota: 1g', users: `{ cfg@example.com: { password: "${HASH}", apop_secret: "s3cret-apop" } }` });
  assert.equal((await cli(['add', 'own@example.com', '--password-stdin', '--quota', '10MB', '--apop'], 'own-password\n')).code, 0);
  assert.equal((await cli(['add', 'plain@example.com', '--password-stdin'], 'plain-password\n')).code, 0);
  const file = path.join(dir, 'data', 'users.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/(own@example\.com:\n)/, '$1  vacation: { message: away, until: 2000-01-01 }\n').replace(/(plain@example\.com:\n)/, '$1  vacation: { message: away }\n'), { mode: 0o600 });
  const script = path.join(dir, 's.sieve');
  writeFileSync(script, 'keep;\n');
  assert.equal((await cli(['sieve', 'plain@example.com', 'set', script])).code, 0);
  const text = await cli(['list']);
  const json = await cli(['list', '--json']);
  assert.equal(json.code, 0, json.err);
  assert.equal(json.out.endsWith(']\n'), true, 'one array, one line');
  assert.deepEqual(JSON.parse(json.out), [
    { address: 'cfg@example.com', apop: true, quota: 1_073_741_824, quotaDefault: true, quotaNone: false, source: 'config', vacation: false, vacationUntil: null, sieve: null },
    { address: 'own@example.com', apop: true, quota: 10_485_760, quotaDefault: false, quotaNone: false, source: 'file', vacation: false, vacationUntil: '2000-01-01', sieve: null },
    { address: 'plain@example.com', apop: false, quota: 1_073_741_824, quotaDefault: true, quotaNone: false, source: 'file', vacation: true, vacationUntil: null, sieve: 'spamgate-cli' },
  ]);
  // the text listing says the same
  assert.deepEqual(text.out.trimEnd().split('\n').map((l) => l.split('\t')), [
    ['cfg@example.com', 'apop', '1073741824 (default)', 'config', '-', '-'],
    ['own@example.com', 'apop', '10485760', 'file', 'ended 2000-01-01', '-'],
    ['plain@example.com', '-', '1073741824 (default)', 'file', 'on', 'spamgate-cli'],
  ]);
  // no users: an empty array; no default quota: null
  const bare = setup(t);
  assert.equal((await bare.cli(['list', '--json'])).out, '[]\n');
  assert.equal((await bare.cli(['add', 'x@example.com', '--password-stdin'], 'plain-password\n')).code, 0);
  assert.deepEqual(JSON.parse((await bare.cli(['list', '--json'])).out), [{ address: 'x@example.com', apop: false, quota: null, quotaDefault: false, quotaNone: false, source: 'file', vacation: false, vacationUntil: null, sieve: null }]);
});

test('an option a users action does not read is bad usage (exit 2) naming it, never silently ignored; the file is unchanged', async (t) => {
  const { dir, cli } = setup(t, { mailhost: 'default_quota: 1g' });
  assert.equal((await cli(['add', 'bob@example.com', '--password-stdin'], 'bob-password\n')).code, 0);
  const file = path.join(dir, 'data', 'users.yaml');
  const before = readFileSync(file, 'utf8');
  const refused: Array<[string[], RegExp]> = [
    [['quota', 'bob@example.com', '2g', '--apop'], /^--apop is not an option of users quota \(only of users add, passwd\)$/],
    [['quota', 'bob@example.com', '2g', '--password-stdin'], /^--password-stdin is not an option of users quota/],
    [['quota', 'bob@example.com', 'default', '--no-apop'], /^--no-apop is not an option of users quota \(only of users passwd\)$/],
    [['quota', 'bob@example.com', '2g', '--json'], /^--json is not an option of users quota \(only of users list\)$/],
    [['del', 'bob@example.com', '--apop'], /^--apop is not an option of users del/],
    [['del', 'bob@example.com', '--password-stdin'], /^--password-stdin is not an option of users del/],
    [['list', '--apop'], /^--apop is not an option of users list/],
    [['add', 'new@example.com', '--password-stdin', '--no-apop'], /^--no-apop is not an option of users add \(only of users passwd\)$/],
    [['add', 'new@example.com', '--password-stdin', '--json'], /^--json is not an option of users add/],
    [['passwd', 'bob@example.com', '--password-stdin', '--quota', '2g'], /^--quota is not an option of users passwd \(only of users add\)$/],
    [['vacation', 'bob@example.com', '--off', '--apop'], /^--apop is not an option of users vacation/],
    [['vacation', 'bob@example.com', '--off', '--password-stdin'], /^--password-stdin is not an option of users vacation/],
  ];
  for (const [argv, message] of refused) {
    await assert.rejects(cli(argv, 'new-password\n'), (err: Error) => err instanceof UsageError && message.test(err.message), argv.join(' '));
  }
  assert.equal(readFileSync(file, 'utf8'), before);
  assert.equal(existsSync(path.join(dir, 'data', 'mail', 'example.com', 'new')), false);
  // what each reads is still taken
  assert.equal((await cli(['quota', 'bob@example.com', '2g'])).code, 0);
  assert.equal((await cli(['list', '--json'])).code, 0);
  assert.equal((await cli(['passwd', 'bob@example.com', '--password-stdin', '--apop'], 'bob-password2\n')).code, 0);
});

test('quota none: no limit for that user, written as quota: none, over mailhost.default_quota; delivery takes a message above the default for them alone', async (t) => {
  const { dir, configFile, cli } = setup(t, { mailhost: 'default_quota: 2k' });
  for (const u of ['free', 'capped']) assert.equal((await cli(['add', `${u}@example.com`, '--password-stdin', '--apop'], `${u}-password\n`)).code, 0);
  const file = path.join(dir, 'data', 'users.yaml');
  const before = readUsersFile(file);
  const set = await cli(['quota', 'free@example.com', 'None']);
  assert.equal(set.code, 0, set.err);
  assert.equal(set.out, "quota of free@example.com: none (unlimited, not mailhost.default_quota's 2048 bytes)\n");
  assert.match(readFileSync(file, 'utf8'), /^free@example\.com:\n(?: {2}.*\n)*? {2}quota: none\n/m);
  const after = readUsersFile(file);
  assert.ok(before.ok && after.ok);
  assert.deepEqual(after.entries['free@example.com'], { ...before.entries['free@example.com'], quota: 'none' }, 'password hash and APOP secret kept');
  const list = await cli(['list']);
  assert.deepEqual(list.out.trimEnd().split('\n').map((l) => l.split('\t')[2]), ['2048 (default)', 'unlimited']);
  const json = JSON.parse((await cli(['list', '--json'])).out) as Array<{ address: string; quota: number | null; quotaDefault: boolean; quotaNone: boolean }>;
  assert.deepEqual(json.map((u) => [u.address, u.quota, u.quotaDefault, u.quotaNone]), [['capped@example.com', 2048, true, false], ['free@example.com', null, false, true]]);
  // the directory: no limit for free@, the default for capped@
  const { config, dataDir } = loadConfig({ file: configFile });
  const d = createUserDirectory({ config, dataDir, log: silentLogger });
  t.after(() => d.close());
  assert.equal(d.quotaOf('free@example.com'), undefined);
  assert.equal(d.quotaOf('capped@example.com'), 2048);
  // delivery through the mail host: a message above the default quota is stored for free@ and refused for capped@
  const host = await openHostProcess(config, dataDir);
  t.after(() => host.close());
  const raw = bigMessage();
  assert.ok(raw.length > 2048);
  const envelope = { mailFrom: 'bob@remote.example', rcptTo: ['free@example.com', 'capped@example.com'], sessionId: 's1', clientIp: '192.0.2.1', receivedAt: Date.now() };
  assert.equal((await host.deliver(envelope, 'free@example.com', raw, 'Q1')).status, 'ok');
  const refused = await host.deliver(envelope, 'capped@example.com', raw, 'Q1');
  assert.equal(refused.status, 'perm');
  assert.match(refused.status === 'perm' ? refused.reply.text : '', /larger than the mailbox quota/);
  // default gives the default back
  assert.equal((await cli(['quota', 'free@example.com', 'default'])).code, 0);
  d.reload();
  assert.equal(d.quotaOf('free@example.com'), 2048);
  // add --quota none too; a users file of sizes only reads as before, and a wrong word is named
  assert.equal((await cli(['add', 'new@example.com', '--password-stdin', '--quota', 'none'], 'new-password\n')).code, 0);
  assert.equal((await cli(['list'])).out.split('\n').find((l) => l.startsWith('new@'))?.split('\t')[2], 'unlimited');
  assert.deepEqual(usersSection.parse({ 'a@example.com': { password: HASH, quota: '10m' } }), { 'a@example.com': { password: HASH, quota: 10_485_760 } });
  const bad = usersSection.safeParse({ 'a@example.com': { password: HASH, quota: 'unlimited' } });
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.message ?? '', /or none for no limit, found "unlimited"/);
});
