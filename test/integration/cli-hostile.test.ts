// `spamgate` as a real process under bad usage and hostile input: unknown commands and options, configs that
// serve would refuse, message files that are directories, devices, binary or huge.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { COMMANDS } from '../../src/commands/index.ts';
import { assertNoStack, cli, tempDir } from '../helpers/cli-hostile.ts';

test('usage: no command, unknown command and options exit 2 with one line; every --help and -h exit 0', async () => {
  const none = await cli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^spamgate: no command given\n/);
  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr.trim().split('\n').length, 1);
  for (const args of [['classify', '--bogus'], ['classify', '-x'], ['queue', 'list', '--config'], ['queue', 'flush', '--wait', 'soon'], ['queue', 'list', '--wait', '5'], ['classify', '--json=1', 'f'], ['users', 'list', 'extra'], ['explain', '/dev/null', '--rcpt', 'not an address'], ['queue', 'park', '0mxc1jr2p-00cwm-feba23'], ['queue', 'list', '0mxc1jr2p-00cwm-feba23']]) {
    const r = await cli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^spamgate ${args[0]}: `));
    // a sub-command queue does not have, or an id list does not take, is named as such
    if (args[0] === 'queue' && /^[0-9a-z]{9}-/.test(args[2] ?? '')) assert.match(r.stderr, /unknown queue sub-command "park"|queue list takes no message id/);
  }
  const helps = await Promise.all(COMMANDS.map(async (c) => ({ name: c.name, run: await cli([c.name, '--help', '--config', '/nonexistent.yaml']) })));
  for (const { name, run } of helps) {
    assert.equal(run.code, 0, name);
    assert.match(run.stdout, new RegExp(`^usage: spamgate ${name}`), name);
  }
  const short = await cli(['explain', '-h']);
  assert.equal(short.code, 0);
  assert.match(short.stdout, /^usage: spamgate explain/);
});

test('check-config catches what serve refuses: bad keys, TLS files, data dir, users file', async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  mkdirSync(data);
  const write = (name: string, text: string): string => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const ok = await cli(['check-config', '--config', write('ok.yaml', '{}\n'), '--data-dir', data]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: /);

  const cases: [string, string[], RegExp][] = [
    ['bad keys', ['--config', write('bad.yaml', 'http:\n  listen: { host: "no such host!", port: 99999 }\nbogus: 1\n'), '--data-dir', data], /bad\.yaml:2: http\.listen\.host: .*\n.*bad\.yaml:2: http\.listen\.port: .*\n.*bad\.yaml:3: bogus: unknown key/],
    ['bad alias', ['--config', write('alias.yaml', 'aliases:\n  "not an address": postmaster@localhost\n'), '--data-dir', data], /alias\.yaml: aliases\.not an address: expected local@domain/],
    ['missing TLS', ['--config', write('tls.yaml', 'smtp:\n  tls: { cert: gone.pem, key: gone.key }\n'), '--data-dir', data], /tls\.yaml:2: smtp\.tls\.cert: .*gone\.pem does not exist/],
    ['empty', ['--config', write('empty.yaml', ''), '--data-dir', data], /empty\.yaml: the file is empty/],
    ['directory', ['--config', dir, '--data-dir', data], /is a directory/],
    ['data dir a file', ['--data-dir', write('plain-file', 'x')], /^ {2}--data-dir: .*plain-file is not a directory$/m],
    ['data_dir a file', ['--config', write('data-file.yaml', 'data_dir: plain-file\n')], /data-file\.yaml: data_dir: .*plain-file is not a directory/],
    ['broken users file', ['--data-dir', path.join(dir, 'users-dir')], /users\.yaml:\d+: /],
    ['alias outside local domains', ['--config', write('aliases.yaml', 'aliases:\n  "x@elsewhere.example": someone@localhost\n'), '--data-dir', data], /aliases\.x@elsewhere\.example: .*not in local_domains/],
  ];
  mkdirSync(path.join(dir, 'users-dir'));
  writeFileSync(path.join(dir, 'users-dir', 'users.yaml'), 'alice@localhost: [\n');
  for (const [label, args, expected] of cases) {
    const check = await cli(['check-config', ...args]);
    assert.equal(check.code, 2, `${label}: ${check.stdout}${check.stderr}`);
    assert.match(check.stderr, expected, label);
    assertNoStack(check);
  }
  // serve refuses the same data dir and TLS config before opening anything, exit 2 with the key.
  const serveTls = await cli(['serve', '--config', path.join(dir, 'tls.yaml'), '--data-dir', data]);
  assert.equal(serveTls.code, 2);
  assert.match(serveTls.stderr, /smtp\.tls\.cert/);
  const serveDir = await cli(['serve', '--data-dir', path.join(dir, 'plain-file')]);
  assert.equal(serveDir.code, 2);
  assert.match(serveDir.stderr, /--data-dir: .*not a directory/);
});

test('message commands on a directory, a missing path, /dev/null, binary and a 50 MB file', async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const empty = path.join(dir, 'empty-dir');
  mkdirSync(empty);
  const binary = path.join(dir, 'binary.bin');
  writeFileSync(binary, Buffer.from(Array.from({ length: 65_536 }, (_, i) => (i * 131) % 256)));
  const big = path.join(dir, 'big.eml');
  writeFileSync(big, Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(50 * 1024 * 1024, 'lorem ipsum dolor sit amet\r\n')]));

  const inEmpty = await cli(['classify', empty, '--data-dir', data]);
  assert.equal(inEmpty.code, 0);
  assert.match(inEmpty.stderr, /no messages found under/);
  const missing = await cli(['classify', path.join(dir, 'nope'), '--data-dir', data]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope: no such file or directory/);
  const explainDir = await cli(['explain', empty, '--data-dir', data]);
  assert.equal(explainDir.code, 2);
  assert.match(explainDir.stderr, /is a directory/);
  for (const args of [['classify', '/dev/null', binary, big], ['explain', binary], ['explain', '/dev/null'], ['forget', binary]]) {
    const r = await cli([...args, '--data-dir', data]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assertNoStack(r);
  }
  const classified = await cli(['classify', '--json', big, '--data-dir', data]);
  assert.match(classified.stdout, /"verdict":"(spam|ham|unsure|silent)"/);
});

test('classify and explain read a device (/dev/zero) only up to the 64 MiB message limit', async (t) => {
  const data = path.join(tempDir(t), 'data');
  const classified = await cli(['classify', '/dev/zero', '--data-dir', data]);
  assert.equal(classified.code, 1, classified.stderr);
  assert.match(classified.stdout, /\/dev\/zero\t-\terror: over the 67108864-byte limit, skipped/);
  const explained = await cli(['explain', '/dev/zero', '--data-dir', data]);
  assert.equal(explained.code, 1);
  assert.match(explained.stderr, /^spamgate explain: \/dev\/zero: over the 67108864-byte limit of one message\n$/);
  assertNoStack(explained);
});

test('a --data-dir that is a file: every command exits 2 naming --data-dir, none with a bare ENOTDIR', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'not-a-dir');
  writeFileSync(file, 'x');
  const message = path.join(dir, 'm.eml');
  writeFileSync(message, 'Subject: x\n\nbody\n');
  const runs = await Promise.all(
    [['queue', 'list'], ['quarantine', 'list'], ['fuzzy', 'stats'], ['classify', message], ['reputation', 'show', '192.0.2.1'], ['users', 'list']].map(async (args) => ({ args, run: await cli([...args, '--data-dir', file]) })),
  );
  for (const { args, run } of runs) {
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /--data-dir: .*not-a-dir is not a directory/, args.join(' '));
    assertNoStack(run);
  }
});
