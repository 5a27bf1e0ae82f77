// Content rules beyond the basics: full-message rules, a later definition of a symbol replacing an earlier
// one, meta rules over meta rules defined later, and load errors (unknown symbol, cycle) naming file and line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runOffline } from '../../../src/bayes/cli-support.ts';
import { createContentChecks } from '../../../src/checks/content-checks.ts';
import { ConfigError } from '../../../src/config/load.ts';
import { withContentSymbols } from '../../../src/content/engine.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { scoreHits } from '../../../src/scoring/scorer.ts';

const SHIPPED = path.resolve(import.meta.dirname, '../../../rules');

function rulesDir(t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-kinds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

async function symbolsOf(dirs: string[], raw: string): Promise<Set<string>> {
  const ruleset = withContentSymbols(loadRuleset(dirs));
  const { hits } = await runOffline(createContentChecks({ ruleset }), Buffer.from(raw));
  return new Set(hits.map((h) => h.symbol));
}

const MSG = 'From: a@example.org\r\nX-Campaign: 42\r\nSubject: hello\r\n\r\nplain body\r\n';

test('a full rule sees the raw message: header block, blank line and undecoded body together', async (t) => {
  const dir = rulesDir(t, {
    'full.yaml': [
      'content_rules:',
      "  - { symbol: CT_FULL_HDR_THEN_BODY, description: header and body, weight: 1, type: full, regex: '/^X-Campaign: \\d+\\r?\\n[\\s\\S]*\\r?\\n\\r?\\nplain body/m' }",
      "  - { symbol: CT_FULL_ABSENT, description: not there, weight: 1, type: full, regex: 'nowhere-in-this-message' }",
      "  - { symbol: CT_BODY_SEES_NO_HEADER, description: body rules do not see headers, weight: 1, type: body, regex: 'X-Campaign' }",
    ].join('\n'),
  });
  const hit = await symbolsOf([dir], MSG);
  assert.ok(hit.has('CT_FULL_HDR_THEN_BODY'), [...hit].join(' '));
  assert.equal(hit.has('CT_FULL_ABSENT'), false);
  assert.equal(hit.has('CT_BODY_SEES_NO_HEADER'), false);
});

test('a later rules directory redefining a symbol replaces the rule (regex and weight), not adds to it', async (t) => {
  const mine = rulesDir(t, {
    'local.yaml': [
      'content_rules:',
      "  - { symbol: CT_SUBJ_MONEY, description: retuned locally, weight: 0.1, type: header, header: Subject, regex: 'only-this-word' }",
    ].join('\n'),
  });
  const money = 'From: a@example.org\r\nSubject: free cash\r\n\r\nx\r\n';
  assert.ok((await symbolsOf([SHIPPED], money)).has('CT_SUBJ_MONEY'), 'the shipped rule hits');
  assert.equal((await symbolsOf([SHIPPED, mine], money)).has('CT_SUBJ_MONEY'), false, 'the shipped regex no longer applies');
  const ruleset = withContentSymbols(loadRuleset([SHIPPED, mine]));
  const { hits } = await runOffline(createContentChecks({ ruleset }), Buffer.from('Subject: only-this-word\r\n\r\nx\r\n'));
  const v = scoreHits(hits, ruleset);
  assert.equal(v.symbols.find((s) => s.symbol === 'CT_SUBJ_MONEY')?.score, 0.1);
  assert.equal(ruleset.symbols.get('CT_SUBJ_MONEY')?.description, 'retuned locally');
});

test('meta rules may build on meta rules defined after them', async (t) => {
  const dir = rulesDir(t, {
    'meta.yaml': [
      'content_rules:',
      '  - { symbol: CT_M_OUTER, description: outer, weight: 1, type: meta, expr: CT_M_INNER && CT_W2 }',
      '  - { symbol: CT_M_INNER, description: inner, weight: 1, type: meta, expr: CT_W1 || CT_NEVER }',
      "  - { symbol: CT_W1, description: w1, weight: 1, type: body, regex: 'alpha' }",
      "  - { symbol: CT_W2, description: w2, weight: 1, type: body, regex: 'beta' }",
      "  - { symbol: CT_NEVER, description: never, weight: 1, type: body, regex: 'zzzzzz' }",
      '  - { symbol: CT_M_NOT, description: negation, weight: 1, type: meta, expr: "!CT_M_OUTER" }',
    ].join('\n'),
  });
  const both = await symbolsOf([dir], 'Subject: x\r\n\r\nalpha beta\r\n');
  assert.ok(both.has('CT_M_INNER') && both.has('CT_M_OUTER'), [...both].join(' '));
  assert.equal(both.has('CT_M_NOT'), false);
  const one = await symbolsOf([dir], 'Subject: x\r\n\r\nalpha only\r\n');
  assert.ok(one.has('CT_M_INNER') && !one.has('CT_M_OUTER') && one.has('CT_M_NOT'), [...one].join(' '));
});

test('a meta rule naming an unknown symbol, and meta rules in a cycle, are errors with file and line', (t) => {
  const dir = rulesDir(t, {
    'broken.yaml': [
      'content_rules:',
      "  - { symbol: CT_OK, description: ok, weight: 1, type: body, regex: 'ok' }",
      '  - symbol: CT_M_TYPO',
      '    description: refers to a typo',
      '    weight: 1',
      '    type: meta',
      '    expr: CT_OK && CT_OK_TYPO',
      '  - { symbol: CT_M_A, description: a, weight: 1, type: meta, expr: CT_OK && CT_M_B }',
      '  - { symbol: CT_M_B, description: b, weight: 1, type: meta, expr: CT_M_A }',
    ].join('\n'),
  });
  const ruleset = withContentSymbols(loadRuleset([SHIPPED, dir]));
  const file = path.join(dir, 'broken.yaml');
  assert.throws(() => createContentChecks({ ruleset }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    assert.ok(text.includes(`${file}:7: content_rules[1].expr: meta expression refers to unknown symbol CT_OK_TYPO`), text);
    assert.match(text, /broken\.yaml:8: content_rules\[2\]\.expr: meta rules refer to each other in a cycle: CT_M_A -> CT_M_B -> CT_M_A/);
    return true;
  });
});
