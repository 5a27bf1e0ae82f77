// Scoring: weights × factors, thresholds, hard policy, per-recipient overrides, and rules loading errors.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../../src/config/load.ts';
import { formatResultHeader } from '../../../src/scoring/explain.ts';
import { loadRuleset, overridesFor, thresholdsFor } from '../../../src/scoring/ruleset.ts';
import { scoreHits } from '../../../src/scoring/scorer.ts';

function rulesDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-rules-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const BASE = `
actions: { reject: 10, junk: 6, add_header: 3 }
overrides:
  lenient.example: { reject: 100, junk: 50 }
symbols:
  A: { weight: 4, description: a }
  B: { weight: 2.5, description: b }
  HARD: { weight: reject, reply: "550 5.7.9 no", description: hard }
  SOFT: { weight: tempfail, description: soft }
`;

test('score is the sum of weight × factor; the first threshold reached decides', () => {
  const rs = loadRuleset([rulesDir({ 'a.yaml': BASE })]);
  const v = scoreHits([{ symbol: 'A' }, { symbol: 'B', factor: 0.5 }], rs);
  assert.equal(v.score, 5.25);
  assert.equal(v.action, 'add_header');
  const v2 = scoreHits([{ symbol: 'A' }, { symbol: 'A', options: ['x'] }, { symbol: 'B', factor: 3 }], rs);
  assert.equal(v2.score, 11.5, 'a symbol counts once (strongest factor)');
  assert.equal(v2.action, 'reject');
  assert.equal(v2.decidedBy, 'reject >= 10');
  assert.match(formatResultHeader(v2, 'sid'), /^reject; score=11\.5; id=sid; A\(4\)\[x\] B\(7\.5\)$/);
});

test('hard policy wins over scores and reject over tempfail', () => {
  const rs = loadRuleset([rulesDir({ 'a.yaml': BASE })]);
  const v = scoreHits([{ symbol: 'SOFT' }, { symbol: 'HARD' }, { symbol: 'A', factor: -5 }], rs);
  assert.equal(v.action, 'reject');
  assert.equal(v.reply, '550 5.7.9 no');
  assert.equal(scoreHits([{ symbol: 'SOFT' }], rs).action, 'tempfail');
});

test('a quarantine weight decides quarantine whatever the score or overrides; reject/tempfail symbols still win; {options} in a reply', () => {
  const rs = loadRuleset([
    rulesDir({
      'a.yaml': BASE,
      'b.yaml': 'symbols:\n  KEEP: { weight: quarantine, description: keep }\n  NAMED: { weight: reject, reply: "554 5.7.1 Found: {options}", description: named }\n',
    }),
  ]);
  const low = scoreHits([{ symbol: 'KEEP', options: ['Eicar'] }, { symbol: 'A', factor: -2 }], rs);
  assert.deepEqual([low.action, low.decidedBy, low.hard, low.reply], ['quarantine', 'KEEP', undefined, undefined]);
  assert.equal(scoreHits([{ symbol: 'KEEP' }, { symbol: 'A', factor: 5 }], rs).action, 'quarantine', 'over the reject threshold too');
  assert.equal(scoreHits([{ symbol: 'KEEP' }], rs, thresholdsFor(rs, 'x@lenient.example')).action, 'quarantine');
  assert.equal(scoreHits([{ symbol: 'KEEP' }, { symbol: 'SOFT' }], rs).action, 'tempfail');
  const named = scoreHits([{ symbol: 'KEEP' }, { symbol: 'NAMED', options: ['Win.Test.EICAR_HDB-1'] }], rs);
  assert.deepEqual([named.action, named.reply], ['reject', '554 5.7.1 Found: Win.Test.EICAR_HDB-1']);
  const dollar = scoreHits([{ symbol: 'NAMED', options: ["a$&b$'c"] }], rs);
  assert.equal(dollar.reply, "554 5.7.1 Found: a$&b$'c", 'an option is written as it is, not read as a replacement pattern');
  assert.match(formatResultHeader(low, 'sid'), /^quarantine; score=-8; id=sid; KEEP\(quarantine\)\[Eicar\] A\(-8\)$/);
});

test('per-domain overrides of thresholds', () => {
  const rs = loadRuleset([rulesDir({ 'a.yaml': BASE })]);
  const hits = [{ symbol: 'A', factor: 3 }];
  assert.equal(scoreHits(hits, rs).action, 'reject');
  assert.equal(scoreHits(hits, rs, thresholdsFor(rs, 'bob@Lenient.Example')).action, 'add_header');
});

const SUBADDR = `
actions: { reject: 10, junk: 6, add_header: 3 }
overrides:
  example.org: { junk: 8 }
  alice@example.org: { reject: 2 }
  alice+vip@example.org: { reject: 50 }
  "+lead@example.org": { reject: 3 }
  dave@example.org: { add_header: 1 }
`;

test('an address override counts for its sub-addresses: full address, then without the sub-address, then domain, then defaults', () => {
  const rs = loadRuleset([rulesDir({ 'a.yaml': SUBADDR })], { subaddressDelimiter: '+' });
  const t = (rcpt: string): unknown => {
    const { reject, junk, add_header } = thresholdsFor(rs, rcpt);
    return { reject, junk, add_header };
  };
  assert.deepEqual(t('alice+news@example.org'), { reject: 2, junk: 8, add_header: 3 }, 'the base address, laid over the domain');
  assert.deepEqual(overridesFor(rs, 'alice+news@example.org'), ['example.org', 'alice@example.org']);
  assert.deepEqual(t('ALICE+News@Example.ORG'), { reject: 2, junk: 8, add_header: 3 }, 'any case');
  assert.deepEqual(t('alice+vip@example.org'), { reject: 50, junk: 8, add_header: 3 }, 'the full address wins over its base');
  assert.deepEqual(overridesFor(rs, 'alice+vip@example.org'), ['example.org', 'alice@example.org', 'alice+vip@example.org']);
  assert.deepEqual(t('alice+a+b@example.org'), { reject: 2, junk: 8, add_header: 3 }, 'cut at the first delimiter (RFC 5233)');
  assert.deepEqual(t('bob+news@example.org'), { reject: 10, junk: 8, add_header: 3 }, 'no override of its own: the domain');
  assert.deepEqual(t('alice+news@other.example'), { reject: 10, junk: 6, add_header: 3 }, 'the defaults');
  assert.deepEqual(overridesFor(rs, 'alice+news@other.example'), []);
  // a local part that starts with the delimiter has no user part: it is looked up as it is, never as "@example.org"
  assert.deepEqual(overridesFor(rs, '+lead@example.org'), ['example.org', '+lead@example.org']);
  assert.deepEqual(overridesFor(rs, '+other@example.org'), ['example.org']);
  // a quoted local part that needs no quoting is the plain address; one that needs its quotes is not cut inside them
  assert.deepEqual(overridesFor(rs, '"alice+news"@example.org'), ['example.org', 'alice@example.org']);
  assert.deepEqual(overridesFor(rs, '"alice+a b"@example.org'), ['example.org']);
  assert.deepEqual(overridesFor(rs, '"dave"@Example.org'), ['example.org', 'dave@example.org']);
});

test("sub-address delimiter '' turns the cutting off; another delimiter cuts at its own character", () => {
  const off = loadRuleset([rulesDir({ 'a.yaml': SUBADDR })], { subaddressDelimiter: '' });
  assert.equal(off.subaddressDelimiter, '');
  assert.deepEqual(overridesFor(off, 'alice+news@example.org'), ['example.org']);
  assert.equal(thresholdsFor(off, 'alice+news@example.org').reject, 10);
  assert.equal(thresholdsFor(off, 'alice@example.org').reject, 2, 'the address itself still matches');
  const dash = loadRuleset([rulesDir({ 'a.yaml': SUBADDR })], { subaddressDelimiter: '-' });
  assert.deepEqual(overridesFor(dash, 'alice-news@example.org'), ['example.org', 'alice@example.org']);
  assert.deepEqual(overridesFor(dash, 'alice+news@example.org'), ['example.org']);
  // no recipient, or a bare domain (explain --rcpt example.org)
  assert.equal(thresholdsFor(dash), dash.thresholds);
  assert.deepEqual(overridesFor(dash, 'Example.org'), ['example.org']);
  // a ruleset loaded without options cuts at mailhost.subaddress_delimiter's default
  assert.equal(loadRuleset([rulesDir({ 'a.yaml': SUBADDR })]).subaddressDelimiter, '+');
});

test('override keys are read in the envelope\'s form: an IDN domain in Unicode, a needless quoting and a final dot match the recipient', () => {
  const rs = loadRuleset([rulesDir({ 'a.yaml': 'overrides:\n  bücher.example: { junk: 8 }\n  info@Bücher.Example: { reject: 2 }\n  \'"dave"@example.org\': { reject: 3 }\n  Example.NET.: { reject: 4 }\n' })]);
  // SMTP hands over the recipient's domain as A-labels (canonicalMailbox), spamd's User and explain --rcpt may give either
  assert.deepEqual(overridesFor(rs, 'info+news@xn--bcher-kva.example'), ['xn--bcher-kva.example', 'info@xn--bcher-kva.example']);
  assert.deepEqual(overridesFor(rs, 'info@bücher.example'), ['xn--bcher-kva.example', 'info@xn--bcher-kva.example']);
  assert.equal(thresholdsFor(rs, 'other@xn--bcher-kva.example').junk, 8);
  assert.equal(thresholdsFor(rs, 'dave+x@example.org').reject, 3);
  assert.equal(thresholdsFor(rs, 'a@example.net').reject, 4);
});

test('a source route (RFC 5321 App. C, as an MTA may hand it to the milter) does not hide the mailbox from its overrides', () => {
  const rs = loadRuleset([rulesDir({ 'a.yaml': SUBADDR })], { subaddressDelimiter: '+' });
  assert.deepEqual(overridesFor(rs, '@relay.example:alice+news@example.org'), ['example.org', 'alice@example.org']);
  assert.equal(thresholdsFor(rs, '@a.example,@b.example:Alice@Example.org').reject, 2);
});

test('a final dot on the domain (milter recipients: the MTA delivers alice@example.org. to alice) does not hide the address from its overrides', () => {
  const rs = loadRuleset([rulesDir({ 'a.yaml': SUBADDR })], { subaddressDelimiter: '+' });
  assert.deepEqual(overridesFor(rs, 'alice+news@Example.org.'), ['example.org', 'alice@example.org']);
  assert.equal(thresholdsFor(rs, 'alice@example.org..').reject, 2);
  assert.equal(thresholdsFor(rs, 'bob@example.org.').junk, 8);
});

test('later files override earlier ones; bad rules files name file, line and key', () => {
  const dir = rulesDir({ 'a.yaml': BASE, 'b.yaml': 'symbols:\n  A: { weight: 1, description: lowered }\n' });
  assert.equal(loadRuleset([dir]).symbols.get('A')?.weight, 1);
  const bad = rulesDir({ 'x.yaml': 'symbols:\n  lower_case: { weight: 1, description: d }\n  OK:\n    weight: lots\n    description: d\nbogus_section: 1\n' });
  assert.throws(
    () => loadRuleset([bad]),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      assert.match(text, /x\.yaml:\d+: symbols\.lower_case/);
      assert.match(text, /x\.yaml:4: symbols\.OK\.weight: expected a number \(the score\), reject, tempfail or quarantine, found "lots"/);
      assert.match(text, /x\.yaml: bogus_section: unknown section/);
      return true;
    },
  );
});
