// spamtest, spamtestplus and virustest (RFC 5235): require and :percent checked at line:col, the scale mapped
// from a recipient's score and thresholds (anchors at 0, the junk point and the refusing threshold), "0" when the
// message was not judged, and i;ascii-numeric ordering ("10" above "9", a non-number above every number).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { formatProblem } from '../../../src/sieve/errors.ts';
import { executeSieve } from '../../../src/sieve/execute.ts';
import { compare, matches } from '../../../src/sieve/match.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';
import { spamtestValues, virustestValue, type SieveVerdict } from '../../../src/sieve/spamtest.ts';
import { sieveVerdictOf } from '../../../src/mailhost/mailbox-delivery.ts';
import { parseEnvelope } from '../../../src/queue/spool-validate.ts';

const RAW = Buffer.from('From: a@remote.example\r\nTo: alice@corp.example\r\nSubject: hi\r\nX-Spamgate-Result: junk; score=20\r\n\r\nbody\r\n');
const REQUIRE = 'require ["spamtestplus", "virustest", "fileinto", "relational", "comparator-i;ascii-numeric"];\n';
const SHIPPED = { reject: 15, junk: 6, rewrite_subject: 5, add_header: 3 };

function problems(text: string): string[] {
  const r = compileSieve(text);
  return r.ok ? [] : r.problems.map(formatProblem);
}

/** The folders a script files into for a verdict (INBOX for the implicit keep). */
function filed(body: string, verdict: SieveVerdict): string[] {
  const r = compileSieve(REQUIRE + body);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  const out = executeSieve(r.script, sieveMessage(RAW, { from: 'a@remote.example', to: 'alice@corp.example' }, verdict));
  assert.ok(out.ok, out.ok ? '' : out.error);
  return out.actions.map((a) => (a.kind === 'fileinto' ? a.folder : 'INBOX'));
}

test('require: spamtest needs "spamtest" or "spamtestplus", :percent needs "spamtestplus", virustest needs "virustest"; errors at line:col', () => {
  assert.deepEqual(problems('require "fileinto";\nif spamtest "10" { discard; }\n'), ['2:4: spamtest needs require "spamtest" (or "spamtestplus")']);
  assert.deepEqual(problems('require "spamtest";\nif spamtest :percent "100" { discard; }\n'), ['2:13: ":percent" needs require "spamtestplus"']);
  assert.deepEqual(problems('if virustest "5" { discard; }\n'), ['1:4: virustest needs require "virustest"']);
  assert.deepEqual(problems('require "spamtest";\nif spamtest "10" { discard; }\n'), []);
  assert.deepEqual(problems('require "spamtestplus";\nif spamtest :percent "100" { discard; }\n'), []);
  assert.deepEqual(problems('require ["virustest", "relational", "comparator-i;ascii-numeric"];\nif virustest :value "ge" :comparator "i;ascii-numeric" "4" { discard; }\n'), []);
  // RFC 5235 §3.2: <value: string>, one string
  assert.deepEqual(problems('require "spamtest";\nif spamtest ["1", "2"] { discard; }\n'), ['2:13: spamtest: argument 1 should be a string']);
  assert.deepEqual(problems('require "spamtest";\nif spamtest :value "ge" "5" { discard; }\n'), ['2:13: ":value" needs require "relational"']);
  assert.deepEqual(problems('require ["spamtest", "comparator-i;ascii-numeric"];\nif spamtest :contains :comparator "i;ascii-numeric" "5" { discard; }\n'), ['2:13: :contains cannot be used with the i;ascii-numeric comparator']);
});

test('the scale: 1 at a score of 0 or less, 6 at the junk threshold, 10 at the reject threshold, linear between, rounded down', () => {
  const v = (score: number, t: Parameters<typeof spamtestValues>[1] = SHIPPED, action = 'accept'): [number, number] => {
    const r = spamtestValues(score, t, action);
    return [r.value, r.percent];
  };
  assert.deepEqual(v(-5), [1, 0]);
  assert.deepEqual(v(0), [1, 0]);
  assert.deepEqual(v(1), [1, 8]);
  assert.deepEqual(v(3), [3, 25]);
  assert.deepEqual(v(5.99), [5, 49], 'just below junk: under 6');
  assert.deepEqual(v(6, SHIPPED, 'junk'), [6, 50], 'the junk threshold is 6 and 50%');
  assert.deepEqual(v(10.5, SHIPPED, 'junk'), [8, 75]);
  assert.deepEqual(v(14.99, SHIPPED, 'junk'), [9, 99]);
  assert.deepEqual(v(15, SHIPPED, 'reject'), [10, 100]);
  assert.deepEqual(v(400, SHIPPED, 'reject'), [10, 100]);
  // the recipient's own thresholds: an override raising junk to 12 moves the anchor
  assert.deepEqual(v(6, { ...SHIPPED, junk: 12 }), [3, 25]);
  assert.deepEqual(v(12, { ...SHIPPED, junk: 12 }, 'junk'), [6, 50]);
  // quarantine below reject is the refusing anchor; with junk off the lowest out-of-inbox threshold is the junk point
  assert.deepEqual(v(10, { junk: 6, quarantine: 10, reject: 15 }, 'quarantine'), [10, 100]);
  assert.deepEqual(v(15, { reject: 15 }, 'reject'), [10, 100]);
  assert.deepEqual(v(7.5, { reject: 15 }), [3, 25]);
  // no thresholds at all: the shipped anchors (6 and 15)
  assert.deepEqual(v(6, {}), [6, 50]);
  // a hard-policy refusal or a Junk verdict lifts the value to its anchor whatever the score
  assert.deepEqual(v(0, SHIPPED, 'reject'), [10, 100]);
  assert.deepEqual(v(2, SHIPPED, 'junk'), [6, 50]);
});

test('virustest values: 1 clean, 5 a virus, not scanned (skipped, error, antivirus off) is undefined ("0")', () => {
  assert.equal(virustestValue('clean'), 1);
  assert.equal(virustestValue('virus'), 5);
  assert.equal(virustestValue('skipped'), undefined);
  assert.equal(virustestValue('error'), undefined);
  assert.equal(virustestValue(undefined), undefined);
});

test('spamtest at run time: the value, :percent, "0" without a verdict; a forged X-Spamgate-Result header changes nothing', () => {
  const script = 'if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto "Spammy"; }\n';
  assert.deepEqual(filed(script, { spam: { value: 6, percent: 50 } }), ['Spammy']);
  assert.deepEqual(filed(script, { spam: { value: 5, percent: 49 } }), ['INBOX']);
  assert.deepEqual(filed(script, { spam: { value: 10, percent: 100 } }), ['Spammy'], '"10" > "6" as numbers, not as text');
  assert.deepEqual(filed(script, {}), ['INBOX'], 'the header says junk, but no verdict came with the delivery');
  // RFC 5235 §3.2.1: "0" is not tested
  assert.deepEqual(filed('if spamtest :is "0" { fileinto "Untested"; }\n', {}), ['Untested']);
  assert.deepEqual(filed('if spamtest :is "0" { fileinto "Untested"; }\n', { spam: { value: 1, percent: 0 } }), ['INBOX']);
  // RFC 5235 §3.2.2: with :percent, 0..100, "0" also without a verdict
  assert.deepEqual(filed('if spamtest :percent :value "ge" :comparator "i;ascii-numeric" "75" { fileinto "P"; }\n', { spam: { value: 8, percent: 75 } }), ['P']);
  assert.deepEqual(filed('if spamtest :percent :value "ge" :comparator "i;ascii-numeric" "75" { fileinto "P"; }\n', { spam: { value: 9, percent: 74 } }), ['INBOX']);
  assert.deepEqual(filed('if spamtest :percent :is "0" { fileinto "Zero"; }\n', {}), ['Zero']);
  // default comparator i;ascii-casemap and :is (RFC 5235 §3.2)
  assert.deepEqual(filed('if spamtest "10" { fileinto "Ten"; }\n', { spam: { value: 10, percent: 100 } }), ['Ten']);
  // :matches works as on any string
  assert.deepEqual(filed('if spamtest :matches "1?" { fileinto "Ten"; }\n', { spam: { value: 10, percent: 100 } }), ['Ten']);
});

test('virustest at run time: 5 infected, 1 clean, "0" not tested', () => {
  const script = 'if virustest :value "ge" :comparator "i;ascii-numeric" "4" { fileinto "Virus"; } elsif virustest "0" { fileinto "Unscanned"; }\n';
  assert.deepEqual(filed(script, { virus: 5 }), ['Virus']);
  assert.deepEqual(filed(script, { virus: 1 }), ['INBOX']);
  assert.deepEqual(filed(script, {}), ['Unscanned']);
});

test('i;ascii-numeric (RFC 4790 §9.1): "10" > "9"; leading zeros do not count; a value without digits is positive infinity', () => {
  assert.ok(compare('10', '9', 'i;ascii-numeric') > 0);
  assert.ok(compare('10', '9', 'i;octet') < 0, 'as text it is the other way');
  assert.equal(compare('007', '7', 'i;ascii-numeric'), 0);
  assert.ok(compare('x', '100000', 'i;ascii-numeric') > 0);
  assert.equal(compare('x', 'y', 'i;ascii-numeric'), 0);
  assert.ok(matches('10', 'abc', 'value', 'i;ascii-numeric', 'lt'));
  assert.ok(matches('6', '6', 'value', 'i;ascii-numeric', 'ge'));
});

test('delivery takes the values from the spool envelope for that recipient only; a damaged value in the spool is "not tested"', () => {
  const base = { mailFrom: 'a@remote.example', rcptTo: ['alice@corp.example', 'bob@corp.example'], sessionId: 's', clientIp: '192.0.2.1', receivedAt: 1 };
  const env = parseEnvelope({ ...base, verdict: { action: 'junk', score: 7, spamtest: { 'alice@corp.example': { value: 6, percent: 55 } }, virustest: 1 } }, 'f');
  assert.deepEqual(sieveVerdictOf(env, 'alice@corp.example'), { spam: { value: 6, percent: 55 }, virus: 1 });
  assert.deepEqual(sieveVerdictOf(env, 'bob@corp.example'), { virus: 1 });
  assert.deepEqual(sieveVerdictOf(env, 'constructor'), { virus: 1 }, 'no inherited property is a value');
  const damaged = parseEnvelope({ ...base, verdict: { action: 'accept', score: 0, spamtest: { 'alice@corp.example': { value: 99, percent: 0 } }, virustest: 'x' } }, 'f');
  assert.deepEqual(sieveVerdictOf(damaged, 'alice@corp.example'), {});
  // a released message's verdict carries none
  assert.deepEqual(sieveVerdictOf(parseEnvelope({ ...base, verdict: { action: 'released', score: 11, junkRecipients: [] } }, 'f'), 'alice@corp.example'), {});
});

test('the README example script compiles', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const block = /```sieve\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'a ```sieve block in the README');
  assert.deepEqual(problems(block.replace(/^ {4}/gm, '')), []);
});

test(':count is 0 for a message not tested and 1 for one tested (RFC 5235 §3.2 example: :percent :count "eq" "0" finds the unclassified)', () => {
  const script =
    'if spamtest :percent :count "eq" :comparator "i;ascii-numeric" "0" { fileinto "Unclassified"; }\n' +
    'elsif spamtest :percent :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "NotSpam"; }\n';
  assert.deepEqual(filed(script, {}), ['Unclassified'], 'not tested: no value to count');
  assert.deepEqual(filed(script, { spam: { value: 1, percent: 0 } }), ['NotSpam'], 'tested, 0%: one value');
  assert.deepEqual(filed('if spamtest :count "eq" :comparator "i;ascii-numeric" "1" { fileinto "Tested"; }\n', { spam: { value: 3, percent: 25 } }), ['Tested']);
  assert.deepEqual(filed('if virustest :count "eq" :comparator "i;ascii-numeric" "0" { fileinto "Unscanned"; }\n', {}), ['Unscanned']);
  assert.deepEqual(filed('if virustest :count "eq" :comparator "i;ascii-numeric" "0" { fileinto "Unscanned"; }\n', { virus: 1 }), ['INBOX']);
});

test('a spool envelope from a newer spamgate (more fields in an entry, in the verdict) keeps the values this one knows; an older one without them is "not tested"', () => {
  const base = { mailFrom: 'a@remote.example', rcptTo: ['alice@corp.example'], sessionId: 's', clientIp: '192.0.2.1', receivedAt: 1 };
  const newer = parseEnvelope({ ...base, verdict: { action: 'junk', score: 7, spamtest: { 'alice@corp.example': { value: 6, percent: 55, score: 7 } }, virustest: 1, later: true } }, 'f');
  assert.deepEqual(sieveVerdictOf(newer, 'alice@corp.example'), { spam: { value: 6, percent: 55 }, virus: 1 });
  const older = parseEnvelope({ ...base, verdict: { action: 'junk', score: 7, junkRecipients: ['alice@corp.example'] } }, 'f');
  assert.deepEqual(sieveVerdictOf(older, 'alice@corp.example'), {});
});
