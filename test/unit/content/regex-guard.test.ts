// User rule regexes cannot stall the process: patterns V8's linear engine can run fall back to it when
// they backtrack (checked in a child process, since a regression would hang rather than fail), and
// runaway patterns it cannot run are refused at load naming file, line and the probe that showed it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../../src/config/load.ts';
import { backtrackingHazard, repeatedGroups, runsInLinearTime } from '../../../src/content/regex-guard.ts';
import { compileRegex } from '../../../src/content/rules-schema.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';

const SCHEMA = path.resolve(import.meta.dirname, '../../../src/content/rules-schema.ts');

test('exponential and polynomial patterns the linear engine can run finish on hostile input', () => {
  // Without the fallback each of these runs for minutes to forever; the child is killed after 60 s.
  const script = [
    `import { compileRegex } from ${JSON.stringify(SCHEMA)};`,
    "const cases = [['(a+)+$', 'a'.repeat(5000) + 'b'], ['(\\\\w+\\\\s?)+@', 'word '.repeat(20000) + '!'],",
    "  ['^[^a-z]*[A-Z]{4,}[^a-z]{6,}$', 'A'.repeat(20000) + 'a'], ['[^a-z]\\\\d{5,}@', 'x' + '1'.repeat(20000)]];",
    'for (const [pattern, input] of cases) {',
    '  const re = compileRegex(pattern);',
    '  const started = performance.now();',
    '  const hit = re.test(input);',
    "  console.log(pattern, hit, Math.round(performance.now() - started), 'ms');",
    '}',
  ].join('\n');
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(child.signal, null, `killed after 60 s: ${child.stdout}`);
  assert.equal(child.status, 0, child.stderr);
  const lines = child.stdout.trim().split('\n');
  assert.equal(lines.length, 4, child.stdout);
  for (const line of lines) assert.match(line, / false \d+ ms$/, 'none of the hostile inputs matches');
});

test('runsInLinearTime tells which patterns the fallback covers', () => {
  assert.equal(runsInLinearTime(compileRegex('(a+)+$')), true);
  assert.equal(runsInLinearTime(compileRegex('(?=x)a')), false, 'lookahead');
  assert.equal(runsInLinearTime(compileRegex('(a)\\1')), false, 'backreference');
});

test('the load-time probe flags runaway patterns outside the linear engine and passes sane ones', () => {
  // the last three repeat several characters: caught by a sample of the repeated group ("=00", "qz")
  for (const pattern of ['/(\\w+\\s?)+@/i', '/\\d+\\d+\\d+@/i', '/^(a|aa)+$/i', '(?=.)(x+x+)+y', '/(?:=[0-9a-f]{2})+(?:=[0-9a-f]{2})+$/i', '/(?:qz)+(?:qz)+$/i', '/^(?:qz|q[z])+$/i']) {
    assert.match(backtrackingHazard(compileRegex(pattern)) ?? 'passed', /backtracks catastrophically: over 25 ms on \d+ characters/, pattern);
  }
  for (const pattern of ['/\\bfree\\b/i', '^(?=[^a-z]*$)[^a-z]*[A-Z]{4}[^a-z]{6}', '/(click|reply)\\s+(here\\s+)?(to\\s+)?(be\\s+)?(removed|unsubscribe)/i', '/https?:\\/\\/[^\\s\\/]+\\.(ru|cn)\\b/i']) {
    assert.equal(backtrackingHazard(compileRegex(pattern)), undefined, pattern);
  }
});

test('a runaway rule regex is refused at load with file and line', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'slow.yaml'), [
    'content_rules:',
    '  - symbol: CT_RUNAWAY',
    '    description: nested repeats',
    '    weight: 1',
    '    type: body',
    "    regex: '/(\\w+\\s?)+unsubscribe/i'",
  ].join('\n'));
  assert.throws(() => loadRuleset([dir]), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.problems.join('\n'), /slow\.yaml:6: content_rules\[0\]\.regex: regular expression backtracks catastrophically/);
    return true;
  });
});

test('repeatedGroups finds the bodies of quantified groups, not of classes or escaped parentheses', () => {
  assert.deepEqual(repeatedGroups('(?:=[0-9a-f]{2})+x(ab)*\\(cd\\)+[(]+(?<w>qz){2,}(once)'), ['=[0-9a-f]{2}', 'ab', 'qz']);
  assert.deepEqual(repeatedGroups('((a|b)+c)+'), ['a|b', '(a|b)+c']);
});
