// The Sieve "variables" extension (RFC 5229): set with modifiers, ${name} expansion in later strings, match
// variables of :matches (earlier wildcards as short as possible), the string test, names and folders only
// known at run time checked there, and the bounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { formatProblem } from '../../../src/sieve/errors.ts';
import { executeSieve, type SieveOutcome } from '../../../src/sieve/execute.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';
import { applyModifiers, MAX_VALUE_CHARS, Variables } from '../../../src/sieve/variables.ts';

const RAW = Buffer.from('From: Ann <ann@lists.example.org>\r\nList-Id: <acme-users@lists.example.org>\r\nSubject: [acme-users] [fwd] version 1.0 is out\r\n\r\nbody\r\n');

function run(body: string): SieveOutcome {
  const r = compileSieve('require ["fileinto", "variables", "imap4flags"];\n' + body);
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  return executeSieve(r.script, sieveMessage(RAW, { from: 'ann@lists.example.org', to: 'alice@corp.example' }));
}

function folders(body: string): string[] {
  const out = run(body);
  assert.ok(out.ok, out.ok ? '' : out.error);
  return out.actions.map((a) => (a.kind === 'fileinto' ? a.folder : a.kind === 'keep' ? `keep${a.flags.length ? ` [${a.flags.join(' ')}]` : ''}` : a.kind));
}

test('match variables: ${1}… are the wildcards of the last successful :matches, the leftmost as short as possible (RFC 5229 §3.2)', () => {
  // the RFC's own example: ${1} holds "acme-users", ${2} "[fwd] version 1.0 is out"
  assert.deepEqual(folders('if header :matches "Subject" "[*] *" { fileinto "${1}"; set "rest" "${2}"; if string :is "${rest}" "[fwd] version 1.0 is out" { fileinto "second-ok"; } }'), ['acme-users', 'second-ok']);
  assert.deepEqual(folders('if header :matches "List-Id" "<*@*>" { fileinto "lists/${1}"; }'), ['lists/acme-users']);
  assert.deepEqual(folders('if address :matches "from" "?*@*.*" { fileinto "${1}/${2}/${3}/${4}"; }'), ['a/nn/lists/example.org']);
  assert.deepEqual(folders('if header :matches "Subject" "*" { fileinto "${0}"; }'), ['[acme-users] [fwd] version 1.0 is out']);
  // a failed :matches leaves the last values; :is and :contains set none
  assert.deepEqual(folders('if header :matches "Subject" "[*]*" { } if header :matches "Subject" "nothing*" { } if header :contains "Subject" "fwd" { fileinto "${1}"; }'), ['acme-users']);
  // case-insensitive matching still captures the text as written
  assert.deepEqual(folders('if header :matches "Subject" "[ACME-*]*" { fileinto "${1}"; }'), ['users']);
});

test('set and its modifiers in precedence order; unknown variables expand to nothing; names are case-insensitive', () => {
  assert.equal(applyModifiers('hello World', ['upperfirst', 'lower']), 'Hello world');
  assert.equal(applyModifiers('a*b?c\\', ['quotewildcard']), 'a\\*b\\?c\\\\');
  assert.equal(applyModifiers('größe', ['length']), '5', 'characters, not octets');
  assert.equal(applyModifiers('abc', ['length', 'upper']), '3');
  assert.deepEqual(folders('set "Dept" "Sales"; set :lower "d" "${dept}"; fileinto "${d}/${DEPT}${undefined}";'), ['sales/Sales']);
  assert.deepEqual(folders('set :quotewildcard "q" "a*b"; if string :matches "a*b" "${q}" { fileinto "literal"; } if string :matches "axxb" "${q}" { fileinto "wrong"; }'), ['literal']);
  assert.deepEqual(folders('set "f" "\\\\Flagged"; addflag "${f}"; keep;'), ['keep [\\Flagged]']);
});

test('validation: set needs require "variables" and a constant identifier; modifiers of one precedence exclude each other', () => {
  const problems = (text: string): string[] => {
    const r = compileSieve(text);
    return r.ok ? [] : r.problems.map(formatProblem);
  };
  assert.deepEqual(problems('set "a" "b";'), ['1:1: set needs require "variables"']);
  assert.deepEqual(problems('require "variables";\nset "bad-name" "b";'), ['2:5: set: invalid variable name "bad-name"']);
  assert.deepEqual(problems('require "variables";\nset :lower :upper "a" "b";'), ['2:12: ":upper" conflicts with ":lower" given before']);
  assert.deepEqual(problems('require "variables";\nif string :is "a" "a" { keep; }\nif string "a" { keep; }'), ['3:4: string: argument 2 should be a string or string list']);
  // with variables a folder or address holding ${…} is checked at run time; a constant one still at compile time
  assert.deepEqual(problems('require ["fileinto", "variables"];\nfileinto "${x}";\nredirect "${x}";\nfileinto "a/../b";'), ['4:10: fileinto: invalid mailbox name "a/../b"']);
});

test('a folder or address only known at run time that is not valid is a run-time error (the caller keeps the message)', () => {
  assert.deepEqual(run('if header :matches "Subject" "*] *" { fileinto "${2}/../x"; }'), { ok: false, error: 'fileinto: invalid mailbox name "[fwd] version 1.0 is out/../x"', line: 2 });
  assert.deepEqual(run('set "to" "not an address"; redirect "${to}";'), { ok: false, error: 'redirect: invalid address "not an address"', line: 2 });
});

test('bounds: values are cut at 4096 characters, at most 128 variables', () => {
  const out = run('set "a" "0123456789abcdef"; set "b" "${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}"; set "c" "${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}"; set :length "n" "${c}"; if string :is "${n}" "4096" { fileinto "cut"; }');
  assert.deepEqual(out.ok ? out.actions.map((a) => a.kind) : out, ['fileinto']);
  const many = Array.from({ length: 129 }, (_, i) => `set "v${i}" "x";`).join('\n');
  const r = run(many);
  assert.equal(r.ok ? '' : r.error, 'more than 128 variables');
});

// that the time is in line with the steps charged (40 such matches once took 35 s of one core) is measured
// by `BENCH=hostile npm run bench` (test/bench/hostile-input.ts)
test('match variables of long :matches are charged steps: a hostile script is ended by the step bound', () => {
  // each match fills a table of about 4000 × 900 cells for its ${1}…
  const raw = Buffer.from('From: a@b.example\r\nSubject: ' + 'a'.repeat(4000) + '\r\n\r\nbody\r\n');
  const key = '*a'.repeat(450) + '*';
  let body = '';
  for (let i = 0; i < 40; i++) body += `if header :matches "subject" "${key}" { set "x${i}" "\${1}"; }\n`;
  const r = compileSieve('require "variables";\n' + body);
  assert.ok(r.ok);
  const out = executeSieve(r.script, sieveMessage(raw, { from: '', to: 'alice@corp.example' }));
  assert.equal(out.ok, false, 'the step bound ends it');
  assert.ok(!out.ok && /more than \d+ steps/.test(out.error) && out.line < 2 + 40, JSON.stringify(out));
});

test('match variables under i;ascii-casemap and i;octet: captured as written, compared as the comparator says', () => {
  assert.deepEqual(folders('if header :matches :comparator "i;octet" "Subject" "[ACME-*]*" { fileinto "no"; } if header :matches :comparator "i;octet" "Subject" "[acme-*]*" { fileinto "${1}"; }'), ['users']);
  assert.deepEqual(folders('if header :matches "Subject" "*VERSION ?.? IS*" { fileinto "${2}${3}"; }'), ['10']);
});

test('expansion stops at the value bound: a string of many references to a long variable never builds more than it keeps', () => {
  const v = new Variables();
  v.set('a', 'x'.repeat(MAX_VALUE_CHARS));
  v.setMatched(['m'.repeat(MAX_VALUE_CHARS)]);
  // a 64 KiB script holds some 16 000 such references (64 MB built, then cut); a million would pass V8's longest string
  assert.equal(v.expand('${a}'.repeat(1_000_000)), 'x'.repeat(MAX_VALUE_CHARS));
  assert.equal(v.expand('<' + '${0}'.repeat(1_000_000)), '<' + 'm'.repeat(MAX_VALUE_CHARS - 1));
  // short results are as before: text, references, unknown names and namespaced ones
  assert.equal(v.expand('1${${nope}${env.x}${z}'), '1${${env.x}');
  v.set('b', 'B');
  assert.equal(v.expand('[${b}][${B}][${unknown}]${'), '[B][B][]${');
});
