// batv at load: off by default, keys inline or from a file (resolved against the config, checked like other
// secret files, each problem with its key path), whole days for max_age, signed domains among local_domains.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { configFileProblems } from '../../helpers/config-errors.ts';

const SECRET = 'a-batv-secret-of-32-characters!!';

function scratch(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-batv-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const problems = configFileProblems;

test('batv: off by default; inline keys with the defaults (7 days, local_domains, unsigned bounces scored)', (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, 'local_domains: [example.org]\n');
  assert.equal(loadConfig({ file }).config.batv.enabled, false);
  writeFileSync(file, `local_domains: [example.org]\nbatv:\n  enabled: true\n  keys: [{ id: 1, secret: "${SECRET}" }]\n`);
  const batv = loadConfig({ file }).config.batv;
  assert.equal(batv.max_age, 7 * 86_400_000);
  assert.equal(batv.domains, undefined);
  assert.equal(batv.unsigned_bounces, 'score');
  assert.deepEqual(batv.keys, [{ id: 1, secret: SECRET }]);
});

test('batv: a key is needed, key numbers differ, secrets are long, keys and key_file not both', (t) => {
  const dir = scratch(t);
  assert.match(problems(dir, 'batv: { enabled: true }\n').join('\n'), /batv\.keys.*needs a key/);
  const twice = problems(dir, `batv:\n  enabled: true\n  keys: [{ id: 1, secret: "${SECRET}" }, { id: 1, secret: "${SECRET}x" }]\n`).join('\n');
  assert.match(twice, /batv\.keys\[1\]\.id.*given twice/);
  assert.match(problems(dir, 'batv:\n  enabled: true\n  keys: [{ id: 1, secret: short }]\n').join('\n'), /batv\.keys\[0\]\.secret.*16 characters/);
  assert.match(problems(dir, `batv:\n  enabled: true\n  keys: [{ id: 10, secret: "${SECRET}" }]\n`).join('\n'), /batv\.keys\[0\]\.id/);
  writeFileSync(path.join(dir, 'batv.keys'), `1 ${SECRET}\n`, { mode: 0o600 });
  assert.match(problems(dir, `batv:\n  enabled: true\n  key_file: batv.keys\n  keys: [{ id: 1, secret: "${SECRET}" }]\n`).join('\n'), /batv\.key_file.*not both/);
  assert.match(problems(dir, `batv:\n  enabled: true\n  key_file: batv.keys\n  colour: blue\n`).join('\n'), /batv.*colour/);
});

test('batv.max_age in whole days from 1d to 365d; domains among local_domains', (t) => {
  const dir = scratch(t);
  const keys = `  keys: [{ id: 1, secret: "${SECRET}" }]\n`;
  assert.match(problems(dir, `batv:\n  enabled: true\n${keys}  max_age: 12h\n`).join('\n'), /batv\.max_age.*whole days/);
  assert.match(problems(dir, `batv:\n  enabled: true\n${keys}  max_age: 400d\n`).join('\n'), /batv\.max_age/);
  assert.deepEqual(problems(dir, `batv:\n  enabled: true\n${keys}  max_age: 30d\n`), []);
  assert.match(problems(dir, `local_domains: [example.org]\nbatv:\n  enabled: true\n${keys}  domains: [example.org, other.example]\n`).join('\n'), /batv\.domains\[1\].*other\.example is not in local_domains/);
  assert.match(problems(dir, `batv:\n  enabled: true\n${keys}  unsigned_bounces: reject\n`).join('\n'), /batv\.unsigned_bounces/);
});

test('batv.key_file: resolved against the config file; missing, open to others, malformed or short is refused with the file named', (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'spamgate.yaml');
  const keyFile = path.join(dir, 'batv.keys');
  const yaml = 'batv:\n  enabled: true\n  key_file: batv.keys\n';
  assert.match(problems(dir, yaml).join('\n'), /batv\.key_file.*batv\.keys does not exist/);
  writeFileSync(keyFile, `# current first\n2 ${SECRET}\n\n1 ${SECRET}-old\n`, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  assert.equal(loadConfig({ file }).config.batv.key_file, keyFile);
  chmodSync(keyFile, 0o644);
  assert.match(problems(dir, yaml).join('\n'), /batv\.key_file.*open to other users.*chmod 600/);
  chmodSync(keyFile, 0o600);
  writeFileSync(keyFile, `2${SECRET}\n`);
  assert.match(problems(dir, yaml).join('\n'), /batv\.key_file.*line 1: expected "K secret"/);
  writeFileSync(keyFile, '2 tooshort\n');
  assert.match(problems(dir, yaml).join('\n'), /batv\.key_file.*key 2 has 8 characters/);
  writeFileSync(keyFile, `2 ${SECRET}\n2 ${SECRET}\n`);
  assert.match(problems(dir, yaml).join('\n'), /batv\.key_file.*key number 2 is given twice/);
  writeFileSync(keyFile, '# nothing\n');
  assert.match(problems(dir, yaml).join('\n'), /batv\.key_file.*holds no key/);
  // off: the file is not read
  assert.deepEqual(problems(dir, 'batv:\n  enabled: false\n  key_file: missing.keys\n'), []);
});
