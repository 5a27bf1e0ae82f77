// The Sieve lexer, parser and validator: RFC 5228 syntax (strings, multi-line text:, lists, numbers with
// quantifiers, comments), the RFC's own example scripts, and errors that name their line and column.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve, MAX_SCRIPT_BYTES } from '../../../src/sieve/compile.ts';
import { formatProblem } from '../../../src/sieve/errors.ts';
import { tokenize } from '../../../src/sieve/lexer.ts';
import { parseSieve } from '../../../src/sieve/parser.ts';

function problems(text: string): string[] {
  const r = compileSieve(text);
  assert.equal(r.ok, false, 'expected the script to be refused');
  return r.ok ? [] : r.problems.map(formatProblem);
}

function compiled(text: string) {
  const r = compileSieve(text);
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  return r.script;
}

test('lexer: quoted strings with escapes, multi-line text: with dot-stuffing, numbers with K/M/G, comments', () => {
  const tokens = tokenize('"a\\"b\\\\c\\d" # hash comment\n/* bracket\n comment */ 10K 2m 1G 7 text: # note\nline one\n..dotted\n.\n:Over');
  assert.deepEqual(
    tokens.map((t) => (t.kind === 'eof' ? 'eof' : `${t.kind}=${JSON.stringify(t.value)}@${t.line}:${t.col}`)),
    ['string="a\\"b\\\\cd"@1:1', 'number=10240@3:13', 'number=2097152@3:17', 'number=1073741824@3:20', 'number=7@3:23', 'string="line one\\r\\n.dotted\\r\\n"@3:25', 'tag="over"@7:1', 'eof'],
  );
});

test('parser: commands, tests, test lists, string lists and blocks, names case-insensitive', () => {
  const tree = parseSieve('IF AnyOf (header :is ["a", "B"] "x", not true) { Keep; }\r\nstop;');
  assert.equal(tree.length, 2);
  const first = tree[0];
  assert.equal(first?.name, 'if');
  assert.equal(first?.tests[0]?.name, 'anyof');
  assert.deepEqual(first?.tests[0]?.tests.map((t) => t.name), ['header', 'not']);
  assert.deepEqual(first?.tests[0]?.tests[0]?.args.map((a) => a.kind), ['tag', 'strings', 'strings']);
  assert.equal(first?.block?.[0]?.name, 'keep');
  assert.equal(tree[1]?.name, 'stop');
});

test('RFC 5228 §9 example scripts compile', () => {
  // §9 examples, the parts spamgate supports (no "reject", which is not an extension spamgate offers)
  const rfcExample = `
     #
     # Example Sieve Filter
     # Declare any optional features or extension used by the script
     #
     require ["fileinto"];

     #
     # Handle messages from known mailing lists
     # Move messages from IETF filter discussion list to filter mailbox
     #
     if header :is "Sender" "owner-ietf-mta-filters@imc.org"
             {
             fileinto "filter";  # move to "filter" mailbox
             }
     #
     # Keep all messages to or from people in my company
     #
     elsif address :DOMAIN :is ["From", "To"] "example.com"
             {
             keep;               # keep in "In" mailbox
             }

     #
     # Try and catch unsolicited email.  If a message is not to me,
     # or it contains a subject known to be spam, file it away.
     #
     elsif anyof (NOT address :all :contains
                    ["To", "Cc", "Bcc"] "me@example.com",
                  header :matches "subject"
                    ["*make*money*fast*", "*university*dipl*mas*"])
             {
             fileinto "spam";   # move to "spam" mailbox
             }
     else
             {
             # Move all other (non-company) mail to "personal"
             # mailbox.
             fileinto "personal";
             }
`;
  const script = compiled(rfcExample);
  assert.deepEqual(script.extensions, ['fileinto']);
  const top = script.commands[0];
  assert.equal(top?.kind, 'if');
  assert.equal(top?.kind === 'if' ? top.branches.length : 0, 4);
  compiled('require "envelope";\nif envelope :all :is "from" "tim@example.com" {\n   discard;\n}\n');
  compiled('if size :over 500K { discard; }\nif exists ["From","Date"] { keep; }\nif header :contains :comparator "i;octet" "Subject" "MAKE MONEY FAST" { discard; }');
  compiled('require ["fileinto", "copy", "imap4flags", "comparator-i;octet"];\nfileinto :copy :flags ["\\\\Seen", "$Label1"] "Archive/2026";\nredirect :copy "bob@example.org";\nsetflag "\\\\Flagged"; addflag "x"; removeflag "x";\nif hasflag :contains "flag" { keep :flags "\\\\Seen"; }');
});

test('syntax errors name the line and column', () => {
  assert.deepEqual(problems('keep;\nif true {\n  keep\n}\n'), ['4:1: expected ";" or "{" after command "keep", found "}"']);
  assert.deepEqual(problems('keep;\n"lost";'), ['2:1: expected a command, found a string']);
  assert.deepEqual(problems('if header :is "a" "b" {\n  keep;\n'), ['3:1: expected "}" before the end of the script']);
  assert.deepEqual(problems('\n\n  redirect "a@b.example\n'), ['3:12: unterminated string (no closing \'"\')']);
  assert.deepEqual(problems('/* never closed\nkeep;'), ['1:1: unterminated comment (no "*/")']);
  assert.deepEqual(problems('require "fileinto";\nfileinto text:\nno end'), ['2:10: unterminated multi-line string (no line with a single ".")']);
  assert.deepEqual(problems('if size :over 10X { keep; }'), ['1:17: unexpected "X" after a number']);
  assert.deepEqual(problems('keep;\n  @'), ['2:3: unexpected character "@"']);
  assert.deepEqual(problems('if anyof (true, false { keep; }'), ['1:23: expected "," or ")" in the test list, found "{"']);
  // grammatical (a test's arguments may end in a test) but "true" takes none
  assert.deepEqual(problems('if anyof (true false) { keep; }'), ['1:16: true takes no test']);
});

test('validation: unknown require, extensions used without require, unknown commands/tests/tags, misplaced require and else', () => {
  // RFC 5228 §3.2: an unsupported extension in require is an error
  assert.deepEqual(problems('require ["fileinto", "notify"];\nkeep;'), ['1:9: unsupported extension "notify" (supported: fileinto, envelope, copy, imap4flags, variables, body, relational, comparator-i;ascii-numeric, reject, ereject, vacation, spamtest, spamtestplus, virustest, subaddress, mailbox, date, index, vacation-seconds, environment, duplicate, special-use)']);
  // RFC 5228 §3.2: an extension used without require is an error
  assert.deepEqual(problems('fileinto "Junk";'), ['1:1: fileinto needs require "fileinto"']);
  assert.deepEqual(problems('if envelope :is "from" "a@b" { keep; }'), ['1:4: envelope needs require "envelope"']);
  assert.deepEqual(problems('redirect :copy "a@b.example";'), ['1:10: ":copy" needs require "copy"']);
  assert.deepEqual(problems('addflag "\\\\Seen";'), ['1:1: addflag needs require "imap4flags"']);
  assert.deepEqual(problems('frobnicate;\nif frob { keep; }\nkeep :bogus;'), ['1:1: unknown command "frobnicate"', '2:4: unknown test "frob"', '3:6: unknown tag ":bogus" for keep']);
  assert.deepEqual(problems('keep;\nrequire "fileinto";'), ['2:1: require must come before any other command, at the top of the script']);
  assert.deepEqual(problems('else { keep; }'), ['1:1: else must follow if or elsif']);
  assert.deepEqual(problems('if header :is :contains "a" "b" { keep; }'), ['1:15: ":contains" conflicts with ":is" given before']);
  assert.deepEqual(problems('if header :comparator "i;ascii-numeric" "a" "b" { keep; }'), ['1:11: comparator "i;ascii-numeric" needs require "comparator-i;ascii-numeric"']);
  assert.deepEqual(problems('if header :comparator "i;unicode-casemap" "a" "b" { keep; }'), ['1:11: unknown comparator "i;unicode-casemap" (i;octet, i;ascii-casemap and i;ascii-numeric are supported)']);
  assert.deepEqual(problems('if header "a" { keep; }'), ['1:4: header: argument 2 should be a string or string list']);
  assert.deepEqual(problems('if size 10 { keep; }'), ['1:4: size needs :over or :under']);
  assert.deepEqual(problems('redirect "not an address";'), ['1:10: redirect: invalid address "not an address"']);
  assert.deepEqual(problems('require "fileinto";\nfileinto "a/../b";'), ['2:10: fileinto: invalid mailbox name "a/../b"']);
  assert.deepEqual(problems('if header "bad name:" "x" { keep; }'), ['1:4: invalid header name "bad name:"']);
  assert.deepEqual(problems('if header "a" "b" "c" { keep; }'), ['1:19: header: too many arguments']);
});

test('bounds: script size and nesting depth', () => {
  assert.deepEqual(problems('#'.repeat(MAX_SCRIPT_BYTES + 1)), [`1:1: script larger than ${MAX_SCRIPT_BYTES} bytes`]);
  const deep = 'if true {'.repeat(40) + 'keep;' + '}'.repeat(40);
  assert.match(problems(deep)[0] ?? '', /^1:\d+: (?:blocks )?nested deeper than 32$/);
  const deepTest = 'if ' + 'not '.repeat(40) + 'true { keep; }';
  assert.match(problems(deepTest)[0] ?? '', /^1:\d+: nested deeper than 32$/);
});
