// Test helper: what a config or rules load refused, as the text of its ConfigError (a load that succeeds, or throws
// anything else, fails the test).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { loadRuleset } from '../../src/scoring/ruleset.ts';

/** The problems of a refused config load (loadConfig(...)), one a line. */
export function configProblems(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    return err.problems.join('\n');
  }
  assert.fail('accepted');
}

/** Writes `yaml` as spamgate.yaml in `dir` and loads it: the problems it was refused for, or [] when it loads. */
export function configFileProblems(dir: string, yaml: string): string[] {
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, yaml);
  try {
    loadConfig({ file });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

/** The message of a refused rules load of these directories. */
export function rulesProblems(dirs: string[]): string {
  try {
    loadRuleset(dirs);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    return err.message;
  }
  assert.fail('the rules were accepted');
}
