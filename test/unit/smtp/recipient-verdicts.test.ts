// Per-recipient verdicts with a quarantine threshold or weight: who is refused, quarantined, put in Junk, delivered.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadRuleset, type Ruleset } from '../../../src/scoring/ruleset.ts';
import { decide } from '../../../src/smtp/recipient-verdicts.ts';

function ruleset(t: TestContext, yaml: string): Ruleset {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-verdicts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'a.yaml'), `symbols:\n  S: { weight: 1, description: one point a hit }\n${yaml}`);
  return loadRuleset([dir]);
}

/** `score` points: one hit of S with that factor. */
const hits = (score: number) => [{ symbol: 'S', factor: score }];

test('no quarantine threshold: as before (refused by all, else Junk for the refusing ones)', (t) => {
  const rs = ruleset(t, 'actions: { reject: 15, junk: 6 }\noverrides:\n  vip.example: { reject: 100 }\n');
  assert.ok(decide(hits(20), rs, ['a@x.example']).refuse);
  const d = decide(hits(20), rs, ['a@x.example', 'b@vip.example']);
  assert.equal(d.quarantine, undefined);
  assert.deepEqual(d.deliverTo, ['a@x.example', 'b@vip.example']);
  assert.deepEqual(d.junkRecipients, ['a@x.example', 'b@vip.example']);
});

test('quarantine: every recipient quarantined, nothing delivered; the verdict says quarantine', (t) => {
  const rs = ruleset(t, 'actions: { reject: 15, quarantine: 10, junk: 6 }\n');
  const d = decide(hits(12), rs, ['a@x.example', 'b@x.example']);
  assert.equal(d.refuse, undefined);
  assert.deepEqual(d.deliverTo, []);
  assert.deepEqual(d.quarantine?.recipients, ['a@x.example', 'b@x.example']);
  assert.equal(d.quarantine?.verdict.action, 'quarantine');
  assert.equal(d.quarantine?.verdict.decidedBy, 'quarantine >= 10');
  // below it: junk as before; past reject: refused as before
  assert.equal(decide(hits(8), rs, ['a@x.example']).quarantine, undefined);
  assert.ok(decide(hits(16), rs, ['a@x.example']).refuse);
});

test('mixed: the recipient past its quarantine threshold is quarantined, one over reject too; the rest delivered', (t) => {
  const rs = ruleset(t, 'actions: { reject: 15, quarantine: 10, junk: 6 }\noverrides:\n  open.example: { reject: 100, quarantine: 100, junk: 100 }\n  strict.example: { reject: 11 }\n  oldstyle.example: { quarantine: 1000 }\n');
  const d = decide(hits(12), rs, ['a@x.example', 'b@open.example', 'c@strict.example', 'd@oldstyle.example']);
  assert.equal(d.refuse, undefined);
  assert.deepEqual(d.quarantine?.recipients, ['a@x.example', 'c@strict.example']);
  assert.deepEqual(d.deliverTo, ['b@open.example', 'd@oldstyle.example']);
  assert.deepEqual(d.junkRecipients, ['d@oldstyle.example']);
  assert.equal(d.verdict.action, 'junk', 'the delivered copy is tagged with the strictest verdict among its recipients');
});

test('a quarantine weight (VIRUS_FOUND: quarantine) quarantines every recipient whatever its overrides; a hard symbol still refuses', (t) => {
  const rs = ruleset(t, '  VIRUS_FOUND: { weight: quarantine, description: kept }\n  AV_UNAVAILABLE: { weight: tempfail, description: deferred }\nactions: { reject: 15, quarantine: 10, junk: 6 }\noverrides:\n  open.example: { reject: 100, quarantine: 100, junk: 100 }\n  strict.example: { reject: 1 }\n');
  const rcpts = ['a@x.example', 'b@open.example', 'c@strict.example'];
  for (const score of [-5, 3, 12, 20]) {
    const d = decide([{ symbol: 'VIRUS_FOUND', options: ['Eicar'] }, ...hits(score)], rs, rcpts);
    assert.equal(d.refuse, undefined, `score ${score}`);
    assert.deepEqual(d.deliverTo, [], `score ${score}: nothing delivered`);
    assert.deepEqual(d.quarantine?.recipients, rcpts, `score ${score}`);
    assert.equal(d.quarantine?.verdict.decidedBy, 'VIRUS_FOUND');
    assert.equal(d.quarantine?.verdict.reply, undefined);
  }
  const deferred = decide([{ symbol: 'VIRUS_FOUND' }, { symbol: 'AV_UNAVAILABLE' }], rs, rcpts);
  assert.equal(deferred.refuse, '451 4.7.1 Message deferred, try again later');
  assert.equal(deferred.quarantine, undefined);
});

test("a hit about one recipient (a rcpt list's allowance) counts in that recipient's verdict only, not in the others'", (t) => {
  // no overrides: the per-recipient hit alone makes the verdicts differ
  const rs = ruleset(t, '  LIST_ABUSE_DESK: { weight: -30, description: our abuse desk takes everything }\nactions: { reject: 15, junk: 6 }\n');
  const spam = [...hits(20), { symbol: 'LIST_ABUSE_DESK', rcpt: 'abuse@x.example' }];
  // the allowlisted recipient alone: taken
  const alone = decide(spam, rs, ['abuse@x.example']);
  assert.equal(alone.refuse, undefined);
  assert.equal(alone.verdict.action, 'accept');
  // another recipient named beside it does not get its allowance: its own verdict (here, Junk)
  const both = decide(spam, rs, ['abuse@x.example', 'b@x.example']);
  assert.deepEqual(both.deliverTo, ['abuse@x.example', 'b@x.example']);
  assert.deepEqual(both.junkRecipients, ['b@x.example']);
  // and a message to the others alone is refused as it always was
  assert.ok(decide(hits(20), rs, ['b@x.example']).refuse);
});

test('judged: each delivered recipient with its own score, action and thresholds (the input of Sieve spamtest), none quarantined', (t) => {
  const rs = ruleset(t, 'actions: { reject: 15, quarantine: 30, junk: 6 }\noverrides:\n  vip.example: { junk: 12, reject: 100 }\n  q.example: { quarantine: 5 }\n');
  const d = decide(hits(8), rs, ['a@x.example', 'b@vip.example', 'c@q.example']);
  assert.deepEqual(
    d.judged.map((j) => [j.rcpt, j.score, j.action, j.thresholds.junk, j.thresholds.reject]),
    [
      ['a@x.example', 8, 'junk', 6, 15],
      ['b@vip.example', 8, 'accept', 12, 100],
    ],
  );
  assert.deepEqual(d.quarantine?.recipients, ['c@q.example']);
  assert.deepEqual(decide(hits(20), rs, ['a@x.example']).judged, [], 'a refused message has no delivered recipient');
});

test("a sub-address is judged by its address's override: its Junk routing, its quarantine, and the thresholds its Sieve spamtest is mapped from", (t) => {
  const rs = ruleset(t, 'actions: { reject: 15, quarantine: 30, junk: 6 }\noverrides:\n  alice@x.example: { junk: 3 }\n  carol@x.example: { quarantine: 4 }\n');
  const d = decide(hits(5), rs, ['alice+news@x.example', 'bob+news@x.example', 'Carol+Shop@x.example']);
  assert.deepEqual(d.junkRecipients, ['alice+news@x.example']);
  assert.deepEqual(d.quarantine?.recipients, ['Carol+Shop@x.example']);
  assert.deepEqual(
    d.judged.map((j) => [j.rcpt, j.action, j.thresholds.junk]),
    [
      ['alice+news@x.example', 'junk', 3],
      ['bob+news@x.example', 'accept', 6],
    ],
  );
});
