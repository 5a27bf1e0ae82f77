// The quarantine's settings: defaults, and errors that name file, line and key — in the config (quarantine:)
// and in rules files (the quarantine threshold of actions: and overrides:).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig, SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { quarantineDir } from '../../../src/config/sections/quarantine.ts';
import { loadRuleset, thresholdsFor } from '../../../src/scoring/ruleset.ts';
import { tempDir as makeTempDir } from '../../helpers/temp-dir.ts';
import { configProblems as problemsOf } from '../../helpers/config-errors.ts';

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-qconfig-');

test('defaults: <data_dir>/quarantine, 30 days, 1 GiB; the shipped rules set no quarantine threshold', () => {
  const { config, dataDir } = loadConfig({ inline: {}, dataDir: '/var/lib/spamgate' });
  assert.deepEqual(config.quarantine, {
    dir: 'quarantine',
    max_age: 30 * 86_400_000,
    max_size: 1024 ** 3,
    digest: { enabled: false, at: '07:00', interval: 86_400_000, max_items: 50, link_lifetime: 7 * 86_400_000, learn_on_release: false, list_links: true },
  });
  assert.equal(quarantineDir(dataDir, config.quarantine), '/var/lib/spamgate/quarantine');
  assert.equal(loadRuleset([SHIPPED_RULES_DIR]).thresholds.quarantine, undefined, 'default behaviour unchanged');
});

test('bad quarantine settings name file, line and key', (t) => {
  const file = path.join(tempDir(t), 'spamgate.yaml');
  writeFileSync(file, 'quarantine:\n  dir: ../elsewhere\n  max_age: soon\n  max_size: lots\n  keep: forever\n');
  const problems = problemsOf(() => loadConfig({ file }));
  const at = file.replace(/[.]/g, '\\.');
  assert.match(problems, new RegExp(`${at}:2: quarantine\\.dir: expected a directory inside data_dir`));
  assert.match(problems, new RegExp(`${at}:3: quarantine\\.max_age: expected a duration`));
  assert.match(problems, new RegExp(`${at}:4: quarantine\\.max_size: expected a size`));
  assert.match(problems, new RegExp(`${at}:5: quarantine\\.keep: unknown key`));
  assert.match(problemsOf(() => loadConfig({ inline: { quarantine: { dir: '/tmp/q' } } })), /quarantine\.dir: expected a directory inside data_dir/);
  assert.match(problemsOf(() => loadConfig({ inline: { quarantine: { max_age: '0s' } } })), /quarantine\.max_age: expected a duration of at least 1s/);
});

test('rules: a quarantine threshold in actions: and overrides:, a bad one named with file, line and key', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'local.yaml'), 'actions:\n  quarantine: 9\noverrides:\n  vip.example: { quarantine: 100 }\n');
  const ruleset = loadRuleset([SHIPPED_RULES_DIR, dir]);
  assert.equal(thresholdsFor(ruleset, 'a@example.org').quarantine, 9);
  assert.equal(thresholdsFor(ruleset, 'a@vip.example').quarantine, 100);
  writeFileSync(path.join(dir, 'local.yaml'), 'actions:\n  quarantine: high\noverrides:\n  vip.example: { quarantine: [] }\n');
  const problems = problemsOf(() => loadRuleset([SHIPPED_RULES_DIR, dir]));
  const at = path.join(dir, 'local.yaml').replace(/[.]/g, '\\.');
  assert.match(problems, new RegExp(`${at}:2: actions\\.quarantine: `));
  assert.match(problems, new RegExp(`${at}:4: overrides\\.vip\\.example\\.quarantine: `));
});

test('quarantine.dir may not be, or be inside, the spool, the mail store or the vacation directory', () => {
  // spool/msg: quarantined files (the spool's file format) would be loaded and delivered, and the max_size sweep
  // would delete queued mail; spool/tmp is emptied at start: acknowledged quarantined mail would be lost
  for (const dir of ['spool', 'spool/msg', './spool/tmp', 'mail/user', 'vacation', 'x/../spool/msg']) {
    assert.match(problemsOf(() => loadConfig({ inline: { quarantine: { dir } } })), /quarantine\.dir: .*spool, mail or vacation/, dir);
  }
  for (const dir of ['quarantine', 'q/spool', 'spooled', 'mailq']) assert.equal(loadConfig({ inline: { quarantine: { dir } } }).config.quarantine.dir, dir);
});

test('bad digest settings name file, line and key', (t) => {
  const file = path.join(tempDir(t), 'spamgate.yaml');
  writeFileSync(file, 'quarantine:\n  digest:\n    at: "7am"\n    interval: 30s\n    base_url: https://gw.example.com/quarantine\n    from: nobody\n    max_items: 0\n');
  const problems = problemsOf(() => loadConfig({ file }));
  const at = file.replace(/[.]/g, '\\.');
  assert.match(problems, new RegExp(`${at}:3: quarantine\\.digest\\.at: expected a local time of day`));
  assert.match(problems, new RegExp(`${at}:4: quarantine\\.digest\\.interval: expected a duration from 1m to 24h`));
  assert.match(problems, new RegExp(`${at}:5: quarantine\\.digest\\.base_url: expected http\\(s\\)://host`));
  assert.match(problems, new RegExp(`${at}:6: quarantine\\.digest\\.from: expected an address`));
  assert.match(problems, new RegExp(`${at}:7: quarantine\\.digest\\.max_items`));
});
