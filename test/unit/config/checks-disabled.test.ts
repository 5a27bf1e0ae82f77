// checks.disabled names filtering checks only: relay control, recipient verification and rate limits
// cannot be switched off, and a name that is no check (a typo) is an error, not silently ignored.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CHECK_NAMES, DISABLEABLE_CHECKS, POLICY_CHECKS } from '../../../src/checks/names.ts';
import { ConfigError, loadConfig } from '../../../src/config/load.ts';

function problems(text: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-disabled-'));
  try {
    const file = path.join(dir, 'spamgate.yaml');
    writeFileSync(file, text);
    loadConfig({ file });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.fail(`accepted: ${text}`);
}

test('relay control, recipient verification and limits cannot be disabled', () => {
  const all = problems('checks:\n  disabled: [relay, recipient, rate_messages]\n');
  assert.match(all, /spamgate\.yaml:2: checks\.disabled\[0\]: found "relay", which is not a filter and cannot be disabled/);
  assert.match(all, /checks\.disabled\[1\]: found "recipient", which is not a filter/);
  assert.match(all, /checks\.disabled\[2\]: found "rate_messages", which is not a filter/);
  assert.match(all, /the checks that can be disabled: .*dnsbl.*bayes/);
});

test('a name that is no check is refused with the allowed names', () => {
  const all = problems('checks:\n  disabled: [spf, dnbsl]\n');
  assert.match(all, /checks\.disabled\[1\]: found "dnbsl", which is no check; the checks that can be disabled: /);
  assert.doesNotMatch(all, /disabled\[0\]/);
});

test('every filtering check may be disabled; the policy checks are the rest', () => {
  const loaded = loadConfig({ inline: { checks: { disabled: DISABLEABLE_CHECKS } } });
  assert.deepEqual(loaded.config.checks.disabled, DISABLEABLE_CHECKS);
  assert.deepEqual([...POLICY_CHECKS].sort(), ['rate_messages', 'rate_recipients', 'recipient', 'recipient_upstream', 'relay']);
  assert.equal(DISABLEABLE_CHECKS.length + POLICY_CHECKS.length, CHECK_NAMES.length);
});

test("the README's checks.disabled row lists every check that can be disabled", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const row = readme.split('\n').find((l) => l.startsWith('| `checks.disabled`')) ?? '';
  const before = row.split('Relay control')[0] ?? '';
  for (const name of DISABLEABLE_CHECKS) assert.ok(before.includes(`\`${name}\``), `README names ${name}`);
  for (const name of POLICY_CHECKS) assert.ok(!before.includes(`\`${name}\``), `README does not offer ${name}`);
});
