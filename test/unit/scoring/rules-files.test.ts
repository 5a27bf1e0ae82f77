// Rules files as files: duplicate keys named with their line, the 4 MiB cap, a "file" that is a
// directory or a device, a rules directory that is missing; each a ConfigError, and a big file is
// parsed whole (its speed is measured by the hostile benchmark, test/bench/hostile-input.ts).
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigError, loadConfig, SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { readUsersFile } from '../../../src/mailhost/users.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { tempDir as makeTempDir } from '../../helpers/temp-dir.ts';
import { rulesProblems as problemsOf } from '../../helpers/config-errors.ts';

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-rules-files-');

test('a key given twice is refused with file, line and key, in rules, config and users files', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'local.yaml'), 'symbols:\n  LOCAL_A: { weight: 1, description: a }\n  LOCAL_B: { weight: 2, description: b }\n  LOCAL_A: { weight: 3, description: c }\n');
  assert.match(problemsOf([dir]), /local\.yaml:4: duplicate key "LOCAL_A" \(first at line 2\)/);
  const etc = path.join(dir, 'etc');
  mkdirSync(etc);
  const cfg = path.join(etc, 'spamgate.yaml');
  writeFileSync(cfg, 'smtp:\n  banner: one\n  max_recipients: 5\n  banner: two\n');
  assert.throws(() => loadConfig({ file: cfg }), (e: unknown) => e instanceof ConfigError && /spamgate\.yaml:4: duplicate key "banner" \(first at line 2\)/.test(e.message));
  const users = path.join(etc, 'users.yaml');
  writeFileSync(users, 'a@localhost:\n  password: x\nb@localhost:\n  password: y\na@localhost:\n  password: z\n');
  const r = readUsersFile(users);
  assert.ok(!r.ok);
  assert.match(r.problems.join('\n'), /users\.yaml:5: duplicate key "a@localhost" \(first at line 1\)/);
  // the same key in different mappings, or in a list of mappings, is fine
  writeFileSync(path.join(dir, 'local.yaml'), 'symbols:\n  LOCAL_A: { weight: 1, description: a }\n  LOCAL_B: { weight: 1, description: a }\n');
  assert.equal(loadRuleset([dir]).symbols.get('LOCAL_B')?.weight, 1);
});

test('a 3 MB rules file and a users file of 20,000 users parse whole', (t) => {
  const dir = tempDir(t);
  const lines = ['symbols:'];
  for (let i = 0; i < 40_000; i++) lines.push(`  LOCAL_${i}: { weight: 1, description: filler text filler text ${i} }`);
  writeFileSync(path.join(dir, 'big.yaml'), lines.join('\n') + '\n');
  // checking unique keys pairwise took 15 s for this file; `BENCH=hostile npm run bench` times it
  const symbols = loadRuleset([SHIPPED_RULES_DIR, dir]).symbols;
  assert.equal(symbols.get('LOCAL_0')?.weight, 1);
  assert.equal(symbols.get('LOCAL_39999')?.weight, 1);
  const users: string[] = [];
  for (let i = 0; i < 20_000; i++) users.push(`user${i}@localhost:\n  password: $scrypt$16384$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g=`);
  writeFileSync(path.join(dir, 'users.yaml'), users.join('\n') + '\n');
  const r = readUsersFile(path.join(dir, 'users.yaml'));
  assert.ok(r.ok && Object.keys(r.entries).length === 20_000);
  assert.ok(r.ok && 'user19999@localhost' in r.entries);
});

test('a rules file over 4 MiB, a directory, a device: config errors naming the file', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'huge.yaml'), `# ${'x'.repeat(4 * 1024 * 1024)}\n`);
  assert.match(problemsOf([dir]), /huge\.yaml: is \d+ bytes; a rules file is at most 4194304/);
  rmSync(path.join(dir, 'huge.yaml'));
  mkdirSync(path.join(dir, 'sub.yaml'));
  assert.match(problemsOf([dir]), /sub\.yaml: is a directory/);
  rmSync(path.join(dir, 'sub.yaml'), { recursive: true });
  symlinkSync('/dev/zero', path.join(dir, 'zero.yaml'));
  assert.match(problemsOf([dir]), /zero\.yaml: larger than 4194304 bytes; not a rules file/);
  rmSync(path.join(dir, 'zero.yaml'));
  symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'dangling.yaml'));
  assert.match(problemsOf([dir]), /dangling\.yaml: cannot read rules file: no such file/);
});

test('a missing rules directory names rules_dirs', (t) => {
  const dir = tempDir(t);
  assert.match(problemsOf([path.join(dir, 'gone')]), /gone: cannot read rules directory \(rules_dirs\): no such file/);
});
