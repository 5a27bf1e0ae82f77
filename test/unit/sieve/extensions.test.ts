// The Sieve extensions beyond the base: relational :value/:count with i;ascii-numeric (RFC 5231, RFC 4790
// §9.1), body with :raw/:text/:content over transfer-encoded parts (RFC 5173), reject/ereject and their
// incompatibilities (RFC 5429), vacation's arguments (RFC 5230), hasflag and the flag commands with variables
// (RFC 5232), and :flags of a second keep or fileinto of one mailbox merged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { formatProblem } from '../../../src/sieve/errors.ts';
import { executeSieve, type SieveOutcome } from '../../../src/sieve/execute.ts';
import { compare, matches } from '../../../src/sieve/match.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';

const REQUIRE = 'require ["fileinto", "imap4flags", "variables", "relational", "comparator-i;ascii-numeric", "body", "reject", "ereject", "vacation", "envelope"];\n';

const PLAIN = Buffer.from(['From: bob@remote.example', 'To: alice@corp.example, carol@corp.example', 'Cc: dave@corp.example', 'Subject: Report', 'X-Priority: 2', 'X-Score: 15', '', 'plain body text', ''].join('\r\n'));

const MULTIPART = Buffer.from(
  [
    'From: bob@remote.example',
    'To: alice@corp.example',
    'Subject: parts',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    'preamble',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('Grüße aus dem Büro: the invoice number is 4711\r\n', 'utf8').toString('base64'),
    '--b1',
    'Content-Type: text/html; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    '<p>Caf=E9 <b>special=20offer</b></p>',
    '--b1',
    'Content-Type: application/octet-stream',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('binary secret payload').toString('base64'),
    '--b1--',
    '',
  ].join('\r\n'),
);

function run(body: string, raw = PLAIN, from = 'bob@remote.example'): SieveOutcome {
  const r = compileSieve(REQUIRE + body);
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  return executeSieve(r.script, sieveMessage(raw, { from, to: 'alice@corp.example' }));
}

function holds(testText: string, raw = PLAIN): boolean {
  const out = run(`if ${testText} { fileinto "yes"; }`, raw);
  assert.ok(out.ok, out.ok ? '' : out.error);
  return out.actions.some((a) => a.kind === 'fileinto');
}

function problems(text: string): string[] {
  const r = compileSieve(text);
  assert.equal(r.ok, false, 'expected the script to be refused');
  return r.ok ? [] : r.problems.map(formatProblem);
}

test('i;ascii-numeric (RFC 4790 §9.1): leading digits, leading zeros ignored, no digits is infinity', () => {
  assert.equal(compare('10', '9', 'i;ascii-numeric') > 0, true);
  assert.equal(compare('007', '7', 'i;ascii-numeric'), 0);
  assert.equal(compare('12abc', '12', 'i;ascii-numeric'), 0);
  assert.equal(compare('abc', '99999999999999999999999', 'i;ascii-numeric') > 0, true, 'infinity above every number');
  assert.equal(compare('abc', 'xyz', 'i;ascii-numeric'), 0, 'infinity equals infinity');
  assert.equal(compare('100000000000000000000001', '100000000000000000000000', 'i;ascii-numeric') > 0, true, 'numbers longer than a double');
  assert.equal(matches('10', '9', 'value', 'i;ascii-casemap', 'gt'), false, 'as strings "10" < "9"');
  assert.equal(matches('10', '9', 'value', 'i;ascii-numeric', 'gt'), true);
});

test('relational :value with each relation, over headers, under i;ascii-numeric and as strings', () => {
  assert.ok(holds('header :value "gt" :comparator "i;ascii-numeric" "x-score" "9"'));
  assert.ok(!holds('header :value "lt" :comparator "i;ascii-numeric" "x-score" "9"'));
  assert.ok(holds('header :value "ge" :comparator "i;ascii-numeric" "x-score" "15"'));
  assert.ok(holds('header :value "le" :comparator "i;ascii-numeric" "x-score" "15"'));
  assert.ok(holds('header :value "eq" :comparator "i;ascii-numeric" "x-score" "015"'));
  assert.ok(holds('header :value "ne" :comparator "i;ascii-numeric" "x-score" "16"'));
  assert.ok(holds('header :value "GT" "subject" "Q"'), 'relation names are case-insensitive; "report" > "Q" folded');
  assert.ok(!holds('header :value "gt" "x-missing" "0"'), 'no value, no match');
});

test('relational :count counts values: addresses, header fields, envelope, string (empty strings not counted)', () => {
  assert.ok(holds('address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "3"'));
  assert.ok(holds('address :count "ge" :comparator "i;ascii-numeric" "to" "2"'));
  assert.ok(!holds('address :count "gt" :comparator "i;ascii-numeric" "to" "2"'));
  assert.ok(holds('header :count "eq" :comparator "i;ascii-numeric" "x-missing" "0"'));
  assert.ok(holds('envelope :count "eq" :comparator "i;ascii-numeric" "to" "1"'));
  assert.ok(holds('string :count "eq" :comparator "i;ascii-numeric" ["a", "", "b"] "2"'));
  const nullSender = run('if envelope :count "eq" :comparator "i;ascii-numeric" "from" "0" { fileinto "none"; }', PLAIN, '');
  assert.ok(nullSender.ok && nullSender.actions.some((a) => a.kind === 'fileinto'), 'the null reverse path is no address');
});

test('relational and numeric comparator: validation (require, relation names, no substring match with i;ascii-numeric)', () => {
  assert.deepEqual(problems('if header :value "gt" "a" "1" { keep; }'), ['1:11: ":value" needs require "relational"']);
  assert.deepEqual(problems('require "relational";\nif header :count "bigger" "a" "1" { keep; }'), ['2:11: :count needs one relation of "gt", "ge", "lt", "le", "eq", "ne"']);
  assert.deepEqual(problems('require "relational";\nif header :value "a" "1" { keep; }'), ['2:4: header: argument 2 should be a string or string list', '2:11: :value needs one relation of "gt", "ge", "lt", "le", "eq", "ne"']);
  assert.deepEqual(problems('require "comparator-i;ascii-numeric";\nif header :contains :comparator "i;ascii-numeric" "a" "1" { keep; }'), ['2:11: :contains cannot be used with the i;ascii-numeric comparator']);
});

test('body :text over a base64 and a quoted-printable part, decoded to UTF-8; HTML as text; attachments not seen', () => {
  assert.ok(holds('body :contains "invoice number is 4711"', MULTIPART));
  assert.ok(holds('body :contains "Grüße aus dem Büro"', MULTIPART), 'base64 UTF-8 decoded');
  assert.ok(holds('body :contains "Café special offer"', MULTIPART), 'QP latin-1 decoded, HTML turned to text');
  assert.ok(!holds('body :contains "secret payload"', MULTIPART), 'an application part is not text');
  assert.ok(!holds('body :contains "preamble"', MULTIPART));
  assert.ok(holds('body :text :contains "plain body"'));
});

test('body :content picks parts by type ("" all, main type, type/subtype); :raw is the undecoded body', () => {
  assert.ok(holds('body :content "application/octet-stream" :contains "secret payload"', MULTIPART));
  assert.ok(holds('body :content "text/html" :contains "<b>special"', MULTIPART), ':content text/html is the decoded HTML itself');
  assert.ok(!holds('body :content "text/plain" :contains "special"', MULTIPART));
  assert.ok(holds('body :content "text" :contains "4711"', MULTIPART));
  assert.ok(holds('body :content "" :contains "secret payload"', MULTIPART));
  assert.ok(holds('body :raw :contains "Caf=E9"', MULTIPART), ':raw is not decoded');
  assert.ok(!holds('body :raw :contains "Café"', MULTIPART));
  assert.ok(holds('body :count "eq" :comparator "i;ascii-numeric" :content "text" "2"', MULTIPART), ':count counts the parts');
  assert.deepEqual(problems('if body :contains "x" { keep; }'), ['1:4: body needs require "body"']);
  assert.deepEqual(problems('require "body";\nif body :raw :text :contains "x" { keep; }'), ['2:14: ":text" conflicts with ":raw" given before']);
  assert.deepEqual(problems('require "body";\nif body :content "text/plain; charset=x" :contains "x" { keep; }'), ['2:9: body :content: invalid media type "text/plain; charset=x"']);
});

const FORWARD = Buffer.from(
  [
    'From: carol@corp.example',
    'To: alice@corp.example',
    'Subject: Fwd: digest',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="outer"',
    '',
    'This is the outer preamble.',
    '--outer',
    'Content-Type: text/plain',
    '',
    'see the forwarded message',
    '--outer',
    'Content-Type: message/rfc822',
    '',
    'From: mallory@phish.example',
    'Subject: Verify your account',
    'Content-Type: text/plain',
    '',
    'inner body words',
    '--outer',
    'Content-Type: multipart/digest; boundary="dig"',
    '',
    '--dig',
    '',
    'From: list@lists.example',
    'Subject: digest item one',
    '',
    'digest body words',
    '--dig--',
    '--outer--',
    'The outer epilogue.',
    '',
  ].join('\r\n'),
);

test('body :content "message/rfc822" compares the nested header, "multipart" the preamble and epilogue (RFC 5173 §5.2)', () => {
  assert.ok(holds('body :content "message/rfc822" :contains "mallory@phish.example"', FORWARD), 'the nested message header');
  assert.ok(!holds('body :content "message/rfc822" :contains "inner body words"', FORWARD), 'not the nested body');
  assert.ok(holds('body :content "text/plain" :contains "inner body words"', FORWARD), 'the nested body parts by their own type');
  assert.ok(holds('body :content "multipart" :is "This is the outer preamble."', FORWARD), 'the preamble, as one string');
  assert.ok(holds('body :content "multipart/mixed" :contains "outer epilogue"', FORWARD), 'the epilogue');
  assert.ok(!holds('body :content "multipart" :contains "see the forwarded"', FORWARD), 'not the children');
  assert.ok(holds('body :content "message/rfc822" :contains "digest item one"', FORWARD), 'a digest part without Content-Type is message/rfc822 (RFC 2046 §5.1.5)');
  assert.ok(!holds('body :text :contains "mallory"', FORWARD), ':text sees no header');
  assert.ok(!holds('body :text :contains "outer preamble"', FORWARD), ':text sees no preamble');
  assert.ok(holds('body :text :contains "digest body words"', FORWARD));
});

test('body: the bytes decoded count toward the step bound', () => {
  const big = Buffer.from(`From: a@b.example\r\nSubject: big\r\n\r\n${'x'.repeat(900_000)}\r\n`);
  const r = compileSieve('require "body";\nif body :contains "needle" { discard; }');
  assert.ok(r.ok);
  const msg = sieveMessage(big, { from: 'a@b.example', to: 'alice@corp.example' });
  const out = executeSieve(r.script, msg, { maxSteps: 100, maxActions: 32, maxRedirects: 4 });
  assert.equal(out.ok, false, 'a 900 kB body costs more than 100 steps');
  const ok = executeSieve(r.script, sieveMessage(big, { from: 'a@b.example', to: 'alice@corp.example' }));
  assert.ok(ok.ok, 'within the default bound');
});

// that each list is not a new decode (200 walks of the 1 MiB message took seconds) is measured by
// `BENCH=hostile npm run bench` (test/bench/hostile-input.ts)
test('body: a script testing many :content type lists of a big message gets its answer', () => {
  const part = Buffer.alloc(9000, 'A').toString('base64');
  const parts = Array.from({ length: 100 }, () => `--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${part}\r\n`).join('');
  const big = Buffer.from(`From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${parts}--b--\r\n`);
  const tests = Array.from({ length: 200 }, (_, i) => `if body :content "type${i}" :contains "zz" { stop; }`).join('\n');
  const r = compileSieve(`require "body";\n${tests}\nif body :text :contains "AAAA" { discard; }`);
  assert.ok(r.ok);
  const out = executeSieve(r.script, sieveMessage(big, { from: 'a@b.example', to: 'alice@corp.example' }));
  assert.ok(out.ok, JSON.stringify(out));
  assert.deepEqual(out.actions.map((a) => a.kind), ['discard']);
});

test('reject and ereject: cancel the implicit keep, carry the reason (variables expanded); incompatible with keep, fileinto, redirect, vacation, a second reject', () => {
  const out = run('set "who" "bob";\nreject "not from ${who}, thanks";');
  assert.ok(out.ok);
  assert.deepEqual(out.actions, [{ kind: 'reject', reason: 'not from bob, thanks', extended: false }]);
  const e = run('ereject "go away";');
  assert.ok(e.ok);
  assert.deepEqual(e.actions, [{ kind: 'reject', reason: 'go away', extended: true }]);
  for (const other of ['keep;', 'fileinto "X";', 'redirect "c@remote.example";', 'vacation "away";', 'reject "again";']) {
    for (const script of [`reject "no"; ${other}`, `${other} reject "no";`]) {
      const r = run(script);
      assert.equal(r.ok, false, script);
      assert.match(r.ok ? '' : r.error, /cannot be combined/);
    }
  }
  const d = run('discard; reject "no";');
  assert.ok(d.ok, 'discard beside reject is allowed');
  assert.deepEqual(problems('reject "x";'), ['1:1: reject needs require "reject"']);
  assert.deepEqual(problems('require "reject";\nereject "x";'), ['2:1: ereject needs require "ereject"']);
});

test('vacation: arguments read and bounded (:days 1–365, default 7), variables expanded, the implicit keep stays; once per run', () => {
  const out = run('set "n" "Alice";\nvacation :days 3 :subject "Away: ${n}" :from "Alice <alice@corp.example>" :addresses ["a@corp.example"] :handle "h1" "I am away";');
  assert.ok(out.ok, out.ok ? '' : out.error);
  assert.deepEqual(out.actions, [
    { kind: 'vacation', days: 3, subject: 'Away: Alice', from: 'Alice <alice@corp.example>', addresses: ['a@corp.example'], mime: false, handle: 'h1', reason: 'I am away' },
    { kind: 'keep', implicit: true, flags: [] },
  ]);
  const bounds = (days: string): number | undefined => {
    const r = run(`vacation ${days} "x";`);
    assert.ok(r.ok);
    const v = r.actions[0];
    return v?.kind === 'vacation' ? v.days : undefined;
  };
  assert.equal(bounds(''), 7);
  assert.equal(bounds(':days 0'), 1);
  assert.equal(bounds(':days 1000'), 365);
  const twice = run('vacation "a"; vacation "b";');
  assert.equal(twice.ok, false);
  assert.deepEqual(problems('require "vacation";\nvacation :from "not an address" "x";'), ['2:10: vacation :from: invalid address "not an address"']);
  assert.deepEqual(problems('require "vacation";\nvacation :days "7" "x";'), ['2:10: ":days" needs a number', '2:20: vacation: too many arguments']);
  assert.deepEqual(problems('vacation "x";'), ['1:1: vacation needs require "vacation"']);
});

test('hasflag and the flag commands with a variable (RFC 5232 §3, §5): compiles and reads the named variables', () => {
  const out = run('setflag "mine" "\\\\Seen";\naddflag "mine" "$Work";\nif hasflag :is "mine" "$work" { fileinto "tagged"; }\nif hasflag "$Work" { fileinto "internal"; }\nif hasflag :count "eq" :comparator "i;ascii-numeric" ["mine", "other"] "2" { fileinto "counted"; }');
  assert.ok(out.ok, out.ok ? '' : out.error);
  assert.deepEqual(out.actions.map((a) => (a.kind === 'fileinto' ? a.folder : a.kind)), ['tagged', 'counted'], 'the internal variable stays empty');
  assert.deepEqual(problems('require "imap4flags";\nif hasflag "v" "f" { keep; }'), ['2:4: hasflag with a variable name needs require "variables"']);
  assert.deepEqual(problems('require ["imap4flags", "variables"];\nsetflag "bad name" "f";'), ['2:1: setflag: invalid variable name "bad name"']);
});

test('a second keep or fileinto of the same mailbox merges its :flags into the one copy', () => {
  const out = run('fileinto :flags "\\\\Seen" "A";\nfileinto :flags "\\\\Flagged" "A";\nkeep :flags "$One";\nkeep :flags "$Two";');
  assert.ok(out.ok);
  assert.deepEqual(out.actions, [
    { kind: 'fileinto', folder: 'A', flags: ['\\Seen', '\\Flagged'] },
    { kind: 'keep', implicit: false, flags: ['$One', '$Two'] },
  ]);
});
