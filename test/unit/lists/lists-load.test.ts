// The `lists:` rules section loaded from files: list files relative to the rules file, later definitions
// replacing earlier ones, and every problem (bad CIDR, garbled address, unknown type, missing file) named
// with the rules file and line of its key, or the list file and line of the entry.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigError, SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { rulesetLists, withListSymbols } from '../../../src/lists/compile.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { runCli } from '../../helpers/cli-process.ts';
import { tempDir as makeTempDir } from '../../helpers/temp-dir.ts';
import { rulesProblems as problemsOf } from '../../helpers/config-errors.ts';

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-lists-');

test('the shipped rules define no list: default behaviour is unchanged', () => {
  assert.deepEqual(rulesetLists(loadRuleset([SHIPPED_RULES_DIR])), []);
});

test('a list with inline entries and a list file relative to its rules file; symbols, phases and origins', (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'lists'));
  writeFileSync(path.join(dir, 'lists', 'partners.txt'), '# partners\n\npartner.example   # the main one\n  .partner.example\r\nceo@other.example\n');
  writeFileSync(
    path.join(dir, 'local.yaml'),
    `lists:
  LIST_PARTNER:
    type: envelope_from
    authenticated: spf
    weight: -20
    description: partners
    entries: [friend@third.example]
    file: lists/partners.txt
  LIST_PARTNER_DKIM:
    type: envelope_from
    authenticated: dkim
    weight: -5
    description: partners by DKIM
    entries: [partner.example]
  LIST_NET:
    type: ip
    weight: reject
    reply: "554 5.7.1 refused ({options})"
    description: bad network
    entries: [203.0.113.0/24]
`,
  );
  const ruleset = withListSymbols(loadRuleset([dir]));
  const lists = rulesetLists(ruleset);
  assert.deepEqual(lists.map((l) => [l.symbol, l.phase]), [['LIST_PARTNER', 'mail'], ['LIST_PARTNER_DKIM', 'data'], ['LIST_NET', 'connect']]);
  const partner = lists[0];
  assert.equal(partner?.entries.matchAddress('x@partner.example')?.at, 'lists/partners.txt:3');
  assert.equal(partner?.entries.matchAddress('x@a.partner.example')?.at, 'lists/partners.txt:4');
  assert.equal(partner?.entries.matchAddress('CEO@other.example')?.at, 'lists/partners.txt:5');
  assert.equal(partner?.entries.matchAddress('friend@third.example')?.at, undefined, 'an inline entry has no file:line');
  assert.equal(ruleset.symbols.get('LIST_NET')?.weight, 'reject');
  assert.equal(ruleset.symbols.get('LIST_PARTNER')?.weight, -20);
  assert.deepEqual(ruleset.reads, [path.join(dir, 'lists', 'partners.txt')]);
});

test('a later definition of a list replaces the earlier one, across rules directories', (t) => {
  const a = tempDir(t);
  const b = tempDir(t);
  writeFileSync(path.join(a, 'lists.yaml'), 'lists:\n  LIST_X: { type: ip, weight: 1, description: first, entries: [192.0.2.1] }\n  LIST_Y: { type: helo, weight: 1, description: kept, entries: [helo.example] }\n');
  writeFileSync(path.join(b, 'lists.yaml'), 'lists:\n  LIST_X: { type: ip, weight: 2, description: second, entries: [192.0.2.2] }\n');
  const lists = rulesetLists(withListSymbols(loadRuleset([a, b])));
  const x = lists.find((l) => l.symbol === 'LIST_X');
  assert.equal(x?.def.weight, 2);
  assert.equal(x?.entries.matchIp('192.0.2.1'), undefined);
  assert.ok(x?.entries.matchIp('192.0.2.2'));
  assert.ok(lists.some((l) => l.symbol === 'LIST_Y'));
});

test('bad entries, an unknown type, a missing file, authenticated on the wrong type: each named with file and line', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'bad.txt'), '# header\n192.0.2.0/24\n10.0.0.300\n\n2001:db8::/129 # comment\n');
  writeFileSync(path.join(dir, 'senders.txt'), 'ok@example.org\n@example.org\nuser@\n');
  writeFileSync(
    path.join(dir, 'local.yaml'),
    `lists:
  LIST_NET:
    type: ip
    weight: reject
    description: bad network
    entries:
      - 203.0.113.0/24
      - 203.0.113.0/33
    file: bad.txt
  LIST_SENDERS:
    type: envelope_from
    weight: 5
    description: senders
    entries: ["", "a b@example.org"]
    file: senders.txt
  LIST_TYPE:
    type: address
    weight: 1
    description: unknown type
    entries: [x]
  LIST_MISSING:
    type: from
    weight: 1
    description: missing file
    file: nowhere/partners.txt
  LIST_AUTH:
    type: ip
    authenticated: spf
    weight: 1
    description: authenticated on an ip list
    entries: [192.0.2.1]
  LIST_EMPTY:
    type: rcpt
    weight: 1
    description: nothing to match
`,
  );
  const text = problemsOf([dir]);
  const yaml = path.join(dir, 'local.yaml');
  assert.match(text, new RegExp(`${yaml}:8: lists\\.LIST_NET\\.entries\\[1\\]: expected an IPv4 or IPv6 address or CIDR block, found "203\\.0\\.113\\.0/33"`));
  assert.match(text, new RegExp(`${path.join(dir, 'bad.txt')}:3: expected an IPv4 or IPv6 address or CIDR block, found "10\\.0\\.0\\.300"`));
  assert.match(text, new RegExp(`${path.join(dir, 'bad.txt')}:5: expected an IPv4 or IPv6 address or CIDR block, found "2001:db8::/129"`));
  assert.match(text, new RegExp(`${yaml}:14: lists\\.LIST_SENDERS\\.entries\\[0\\]: empty entry`));
  assert.match(text, new RegExp(`${yaml}:14: lists\\.LIST_SENDERS\\.entries\\[1\\]: expected user@domain, domain or \\.domain, found "a b@example\\.org"`));
  assert.match(text, new RegExp(`${path.join(dir, 'senders.txt')}:2: expected user@domain`));
  assert.match(text, new RegExp(`${path.join(dir, 'senders.txt')}:3: expected user@domain`));
  assert.match(text, new RegExp(`${yaml}:17: lists\\.LIST_TYPE\\.type: expected one of "ip", "helo", "client_hostname", "envelope_from", "rcpt", "from"`));
  assert.match(text, new RegExp(`${yaml}:25: lists\\.LIST_MISSING\\.file: ${path.join(dir, 'nowhere', 'partners.txt')}: cannot read list file: no such file`));
  assert.match(text, new RegExp(`${yaml}:28: lists\\.LIST_AUTH\\.authenticated: authenticated applies to envelope_from and from lists`));
  assert.match(text, new RegExp(`${yaml}:\\d+: lists\\.LIST_EMPTY: a list needs entries, a file, or both`));
  assert.doesNotMatch(text, /bad\.txt:2|senders\.txt:1/, 'the good lines are not named');
});

test('a list file is bounded: a huge file or a binary one is refused, not read into memory', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'bin.txt'), Buffer.from([0x31, 0x00, 0xff, 0xfe]));
  writeFileSync(path.join(dir, 'local.yaml'), 'lists:\n  LIST_BIN: { type: ip, weight: 1, description: binary, file: bin.txt }\n  LIST_DEV: { type: ip, weight: 1, description: device, file: /dev/zero }\n');
  const text = problemsOf([dir]);
  assert.match(text, /bin\.txt: not UTF-8 text/);
  assert.match(text, /\/dev\/zero: not a regular file/);
});

test('a list named like a symbol defined elsewhere is refused, naming where the list is', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'local.yaml'), 'symbols:\n  LIST_DUP: { weight: 1, description: plain symbol }\nlists:\n  LIST_DUP: { type: ip, weight: 2, description: list, entries: [192.0.2.1] }\n');
  assert.throws(() => withListSymbols(loadRuleset([dir])), (e: unknown) => e instanceof ConfigError && e.message.includes(`${path.join(dir, 'local.yaml')}:4: lists.LIST_DUP: LIST_DUP is also defined`));
});

test('a list file that is a named pipe is refused at once, not waited on (the load would hold up the gateway)', async (t) => {
  const dir = tempDir(t);
  execFileSync('mkfifo', [path.join(dir, 'pipe.txt')]);
  writeFileSync(path.join(dir, 'local.yaml'), 'lists:\n  LIST_PIPE: { type: ip, weight: 1, description: a pipe, file: pipe.txt }\n');
  const config = path.join(dir, 'spamgate.yaml');
  writeFileSync(config, `rules_dirs: [${JSON.stringify(SHIPPED_RULES_DIR)}, ${JSON.stringify(dir)}]\n`);
  // in a process of its own: opening a pipe no one writes to blocks the thread that opens it
  const run = await runCli(['check-config', '--config', config, '--data-dir', path.join(dir, 'data')], { timeoutMs: 20_000 });
  assert.notEqual(run.code, null, 'check-config finished');
  assert.notEqual(run.code, 0);
  assert.match(run.stderr + run.stdout, /pipe\.txt: not a regular file/);
});
