// The antivirus settings: off by default (the embedded config needs no clamd), and bad ones named with file, line
// and key; the shipped rules define every symbol of the check.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ANTIVIRUS_SYMBOLS } from '../../../src/checks/antivirus.ts';
import { loadConfig, SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { configProblems as problemsOf } from '../../helpers/config-errors.ts';

test('defaults: off, 127.0.0.1:3310, 30 s, 25 MiB, 10 at once, outbound scanned, tempfail on error', () => {
  const { config } = loadConfig({ inline: {} });
  assert.deepEqual(config.antivirus, { enabled: false, clamd: '127.0.0.1:3310', timeout: 30_000, max_size: 25 * 1024 * 1024, max_concurrent: 10, scan_outbound: true, on_error: 'tempfail' });
  const unix = loadConfig({ inline: { antivirus: { enabled: true, clamd: 'unix:/run/clamav/clamd.ctl', on_error: 'accept', max_size: '10m' } } }).config.antivirus;
  assert.equal(unix.clamd, 'unix:/run/clamav/clamd.ctl');
  assert.equal(unix.max_size, 10 * 1024 * 1024);
});

test('bad antivirus settings name file, line and key', (t) => {
  const file = path.join(tempDir(t, 'spamgate-avconfig-'), 'spamgate.yaml');
  writeFileSync(file, 'antivirus:\n  enabled: true\n  clamd: "localhost"\n  on_error: ignore\n  max_concurrent: 0\n  max_size: 10\n  timeout: 0s\n  scanner: clamav\n');
  const problems = problemsOf(() => loadConfig({ file }));
  const at = file.replace(/[.]/g, '\\.');
  assert.match(problems, new RegExp(`${at}:3: antivirus\\.clamd: expected "host:port" \\(e\\.g\\. "127\\.0\\.0\\.1:3310"\\) or "unix:/path/to/clamd\\.sock", found "localhost"`));
  assert.match(problems, new RegExp(`${at}:4: antivirus\\.on_error: `));
  assert.match(problems, new RegExp(`${at}:5: antivirus\\.max_concurrent: `));
  assert.match(problems, new RegExp(`${at}:6: antivirus\\.max_size: expected a size from 1k to 1g`));
  assert.match(problems, new RegExp(`${at}:7: antivirus\\.timeout: `));
  assert.match(problems, new RegExp(`${at}:8: antivirus\\.scanner: unknown key`));
  assert.match(problemsOf(() => loadConfig({ inline: { antivirus: { clamd: 'unix:clamd.sock' } } })), /antivirus\.clamd: expected an absolute socket path/);
  assert.match(problemsOf(() => loadConfig({ inline: { antivirus: { clamd: '127.0.0.1:99999' } } })), /antivirus\.clamd: expected a port from 1 to 65535/);
  assert.match(problemsOf(() => loadConfig({ inline: { antivirus: { timeout: '10m' } } })), /antivirus\.timeout: expected a duration from 100ms to 5m/);
  assert.equal(loadConfig({ inline: { antivirus: { timeout: '5m' } } }).config.antivirus.timeout, 300_000);
});

test('the shipped rules define every antivirus symbol; a symbol may weigh quarantine', (t) => {
  const ruleset = loadRuleset([SHIPPED_RULES_DIR]);
  for (const s of ANTIVIRUS_SYMBOLS) assert.ok(ruleset.symbols.has(s), s);
  assert.equal(ruleset.symbols.get('VIRUS_FOUND')?.weight, 'reject');
  assert.equal(ruleset.symbols.get('VIRUS_FOUND')?.reply, '554 5.7.1 Virus found: {options}');
  assert.equal(ruleset.symbols.get('AV_UNAVAILABLE')?.weight, 'tempfail');
  const dir = tempDir(t, 'spamgate-avrules-');
  writeFileSync(path.join(dir, 'local.yaml'), 'symbols:\n  VIRUS_FOUND: { weight: quarantine, description: kept }\n');
  assert.equal(loadRuleset([SHIPPED_RULES_DIR, dir]).symbols.get('VIRUS_FOUND')?.weight, 'quarantine');
  writeFileSync(path.join(dir, 'local.yaml'), 'symbols:\n  VIRUS_FOUND: { weight: discard, description: kept }\n');
  assert.match(problemsOf(() => loadRuleset([SHIPPED_RULES_DIR, dir])), /VIRUS_FOUND\.weight: expected a number \(the score\), reject, tempfail or quarantine, found "discard"/);
});
