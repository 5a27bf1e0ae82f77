// Sieve matching: :is, :contains and :matches with "*", "?" and "\" escapes under i;ascii-casemap and i;octet,
// address parts, envelope, RFC 2047-encoded header values, and a hostile pattern that stays fast.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { executeSieve } from '../../../src/sieve/execute.ts';
import { matches } from '../../../src/sieve/match.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';

const MESSAGE = Buffer.from(
  [
    'From: "Müller, Jörg" <Joerg.Mueller@Example.ORG>',
    'To: team@corp.example, "Bob" <bob@corp.example>',
    'Cc: undisclosed-recipients:;',
    'Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?= and =?ISO-8859-1?Q?caf=E9?=',
    'X-Spamgate-Result: junk; score=9.5; id=abc; BAYES_SPAM(5)',
    'X-Long: a',
    '  folded value',
    '',
    'body',
  ].join('\r\n'),
);

/** True when the script's test matches the message (the script files into "yes" when it does). */
function holds(testText: string, envelope = { from: 'sender@remote.example', to: 'alice+tag@corp.example' }, raw = MESSAGE): boolean {
  const r = compileSieve(`require ["fileinto", "envelope", "imap4flags"];\nif ${testText} { fileinto "yes"; }`);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  const out = executeSieve(r.script, sieveMessage(raw, envelope));
  assert.ok(out.ok);
  return out.actions.some((a) => a.kind === 'fileinto');
}

test(':matches wildcards: * any run, ? one character, \\ escapes; anchored at both ends', () => {
  const cases: Array<[string, string, boolean]> = [
    ['hello world', '*', true],
    ['', '*', true],
    ['', '?', false],
    ['hello world', 'hello*', true],
    ['hello world', '*world', true],
    ['hello world', 'h?llo*', true],
    ['hello world', 'hello', false],
    ['hello world', '*o*o*', true],
    ['hello world', '*o*o*o*', false],
    ['a*b', 'a\\*b', true],
    ['axb', 'a\\*b', false],
    ['a?b', 'a\\?b', true],
    ['axb', 'a\\?b', false],
    ['a\\b', 'a\\\\b', true],
    ['größe', 'gr??e', true],
  ];
  for (const [value, key, want] of cases) assert.equal(matches(value, key, 'matches', 'i;octet'), want, `${JSON.stringify(value)} :matches ${JSON.stringify(key)}`);
});

test('comparators: i;ascii-casemap folds ASCII letters only, i;octet folds nothing', () => {
  assert.equal(matches('Hello', 'hELLO', 'is', 'i;ascii-casemap'), true);
  assert.equal(matches('Hello', 'hELLO', 'is', 'i;octet'), false);
  assert.equal(matches('ÄRGER', 'ärger', 'is', 'i;ascii-casemap'), false, 'no Unicode folding (RFC 4790 §9.2)');
  assert.equal(matches('Make MONEY fast', 'money', 'contains', 'i;ascii-casemap'), true);
  assert.equal(matches('Make MONEY fast', 'money', 'contains', 'i;octet'), false);
  assert.equal(matches('Make MONEY fast', 'make*FAST', 'matches', 'i;ascii-casemap'), true);
  assert.ok(holds('header :is "subject" "GRÜßE AUS KÖLN AND CAFÉ"') === false);
  assert.ok(holds('header :comparator "i;octet" :contains "subject" "Köln"'));
  assert.ok(holds('header :comparator "I;OCTET" :contains "subject" "Köln"'), 'comparator names are case-insensitive');
  assert.ok(!holds('header :comparator "i;octet" :contains "subject" "köln"'));
});

test('header test: RFC 2047 words decoded (§2.7.2), folded values unfolded, exists, the spam verdict header', () => {
  assert.ok(holds('header :is "Subject" "Grüße aus Köln and café"'));
  assert.ok(holds('header :contains "x-long" "a folded"'));
  assert.ok(holds('exists ["from", "X-Spamgate-Result"]'));
  assert.ok(!holds('exists ["from", "x-missing"]'));
  assert.ok(holds('header :matches "X-Spamgate-Result" "junk;*"'));
  assert.ok(!holds('header :matches "X-Spamgate-Result" "pass;*"'));
});

test('address test: parts :all, :localpart, :domain; display names and groups do not confuse it; only address fields', () => {
  assert.ok(holds('address :is "from" "joerg.mueller@example.org"'));
  assert.ok(holds('address :localpart :is "from" "JOERG.MUELLER"'));
  assert.ok(holds('address :domain :is "from" "example.org"'));
  assert.ok(!holds('address :domain :is "from" "Müller"'));
  assert.ok(holds('address :all :is "to" "bob@corp.example"'));
  assert.ok(holds('address :domain :matches ["to", "cc"] "*.example"'));
  assert.ok(!holds('address :contains "subject" "aus"'), 'RFC 5228 §5.1: the address test is restricted to address fields');
});

test('envelope test: from and to of the SMTP envelope, the null sender as the empty string', () => {
  assert.ok(holds('envelope :is "from" "sender@remote.example"'));
  assert.ok(holds('envelope :domain :is "to" "corp.example"'));
  assert.ok(holds('envelope :localpart :matches "to" "alice+*"'));
  assert.ok(!holds('envelope :is "from" "alice+tag@corp.example"'));
  assert.ok(holds('envelope :is "from" ""', { from: '', to: 'alice@corp.example' }));
  assert.ok(!holds('envelope :is "from" ""'));
});

test('size :over and :under are strict', () => {
  const size = MESSAGE.length;
  assert.ok(holds(`size :over ${size - 1}`));
  assert.ok(!holds(`size :over ${size}`));
  assert.ok(holds(`size :under ${size + 1}`));
  assert.ok(!holds(`size :under ${size}`));
});

test('a hostile :matches pattern against a long value stays fast (no exponential backtracking)', () => {
  // exponential backtracking would not end (the run's test timeout catches it); how fast it is the hostile benchmark says
  const value = 'a'.repeat(20_000);
  assert.equal(matches(value, '*a*a*a*a*a*a*a*a*a*a*b', 'matches', 'i;octet'), false);
});

test('long comparisons cost steps by their size: a script cannot spend unbounded time on one long header', () => {
  const subject = 'x'.repeat(60_000);
  const raw = Buffer.from(`Subject: ${subject}\r\n\r\nbody\r\n`);
  const key = '*' + 'x?'.repeat(2000) + 'y*';
  const r = compileSieve(`if header :matches "subject" ["${key}", "${key}", "${key}", "${key}", "${key}", "${key}"] { keep; }`);
  assert.ok(r.ok);
  const started = process.hrtime.bigint();
  const out = executeSieve(r.script, sieveMessage(raw, { from: '', to: 'a@b.example' }));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.deepEqual(out.ok ? 'ran to the end' : out.error, 'more than 10000 steps');
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('address parts of an address that is not valid are not matched by :localpart or :domain (RFC 5228 §2.7.4); :all still sees it', () => {
  const raw = Buffer.from('From: bob@\r\nTo: @corp.example\r\nCc: <carol>\r\nSubject: x\r\n\r\nbody\r\n');
  const env = { from: 'sender@remote.example', to: 'alice@corp.example' };
  assert.ok(!holds('address :localpart :is "from" "bob"', env, raw));
  assert.ok(!holds('address :domain :is "from" ""', env, raw));
  assert.ok(!holds('address :domain :is "to" "corp.example"', env, raw));
  assert.ok(!holds('address :localpart :is "to" ""', env, raw));
  assert.ok(!holds('address :localpart :contains ["from", "to", "cc"] ""', env, raw));
  assert.ok(holds('address :all :is "from" "bob@"', env, raw));
  // the envelope's null sender stays the empty string whatever the part (§5.4)
  assert.ok(holds('envelope :domain :is "from" ""', { from: '', to: 'alice@corp.example' }));
});
