// The Sieve executor: implicit keep (RFC 5228 §2.10.2), stop, discard cancelling only the implicit keep,
// fileinto with and without :copy beside keep, duplicates done once, imap4flags, and the runtime bounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { executeSieve, type SieveOutcome } from '../../../src/sieve/execute.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';

const RAW = Buffer.from('From: a@remote.example\r\nTo: alice@corp.example\r\nSubject: Report\r\n\r\nbody\r\n');
const REQUIRE = 'require ["fileinto", "copy", "imap4flags"];\n';

function run(body: string, limits?: Parameters<typeof executeSieve>[2]): SieveOutcome {
  const r = compileSieve(REQUIRE + body);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  return executeSieve(r.script, sieveMessage(RAW, { from: 'a@remote.example', to: 'alice@corp.example' }), limits);
}

function actions(body: string): string[] {
  const out = run(body);
  assert.ok(out.ok, out.ok ? '' : out.error);
  return out.actions.map((a) => (a.kind === 'fileinto' ? `fileinto ${a.folder}${a.flags.length ? ` [${a.flags.join(' ')}]` : ''}` : a.kind === 'keep' ? `${a.implicit ? 'implicit ' : ''}keep${a.flags.length ? ` [${a.flags.join(' ')}]` : ''}` : a.kind === 'redirect' ? `redirect ${a.address}` : a.kind));
}

test('an empty script, or one whose tests fail, keeps the message (implicit keep)', () => {
  assert.deepEqual(actions(''), ['implicit keep']);
  assert.deepEqual(actions('if header :is "subject" "other" { discard; }'), ['implicit keep']);
});

test('fileinto cancels the implicit keep; with :copy it stays; explicit keep beside fileinto keeps both', () => {
  assert.deepEqual(actions('fileinto "Reports";'), ['fileinto Reports']);
  assert.deepEqual(actions('fileinto :copy "Reports";'), ['fileinto Reports', 'implicit keep']);
  assert.deepEqual(actions('fileinto "Reports"; keep;'), ['fileinto Reports', 'keep']);
  assert.deepEqual(actions('redirect "bob@remote.example";'), ['redirect bob@remote.example']);
  assert.deepEqual(actions('redirect :copy "bob@remote.example";'), ['redirect bob@remote.example', 'implicit keep']);
});

test('discard cancels the implicit keep only: an explicit keep or fileinto still happens', () => {
  assert.deepEqual(actions('discard;'), ['discard']);
  assert.deepEqual(actions('keep; discard;'), ['keep', 'discard']);
  assert.deepEqual(actions('discard; fileinto "A";'), ['discard', 'fileinto A']);
});

test('stop ends the script: later commands are not run, the implicit keep still applies', () => {
  assert.deepEqual(actions('if header :contains "subject" "report" { fileinto "Reports"; stop; }\nfileinto "Other";'), ['fileinto Reports']);
  assert.deepEqual(actions('stop;\ndiscard;'), ['implicit keep']);
  assert.deepEqual(actions('if true { if true { stop; } fileinto "Never"; }\nfileinto "Never2";'), ['implicit keep']);
});

test('if / elsif / else take the first branch that holds', () => {
  const script = (subject: string): string => `if header :is "subject" "${subject}" { fileinto "One"; } elsif header :contains "subject" "rep" { fileinto "Two"; } else { fileinto "Three"; }`;
  assert.deepEqual(actions(script('Report')), ['fileinto One']);
  assert.deepEqual(actions(script('x')), ['fileinto Two']);
  assert.deepEqual(actions('if false { fileinto "One"; } elsif false { fileinto "Two"; } else { fileinto "Three"; }'), ['fileinto Three']);
});

test('the same folder or address asked for twice is done once (RFC 5228 §2.10.3)', () => {
  assert.deepEqual(actions('fileinto "A"; fileinto "A"; keep; keep; redirect "b@x.example"; redirect "B@X.example";'), ['fileinto A', 'keep', 'redirect b@x.example']);
  assert.deepEqual(actions('fileinto "inbox"; fileinto "INBOX";'), ['fileinto INBOX']);
});

test('imap4flags: setflag/addflag/removeflag drive the flags of keep, fileinto and the implicit keep; :flags overrides; hasflag tests them', () => {
  assert.deepEqual(actions('addflag "\\\\seen $Work"; addflag "\\\\Flagged"; removeflag "$work";'), ['implicit keep [\\Seen \\Flagged]']);
  assert.deepEqual(actions('setflag "\\\\Answered"; fileinto "A"; fileinto :flags "\\\\Seen" "B";'), ['fileinto A [\\Answered]', 'fileinto B [\\Seen]']);
  assert.deepEqual(actions('addflag ["$Todo", "bad(flag", "\\\\Recent"]; keep;'), ['keep [$Todo]'], 'invalid flags are left out');
  assert.deepEqual(actions('addflag "$Todo"; if hasflag :is "$TODO" { fileinto "Todo"; }'), ['fileinto Todo [$Todo]']);
  assert.deepEqual(actions('if hasflag "$Todo" { fileinto "Todo"; }'), ['implicit keep']);
});

test('runtime bounds: redirects, actions and steps; passing one is an error the caller turns into the implicit keep', () => {
  const redirects = Array.from({ length: 5 }, (_, i) => `redirect "r${i}@remote.example";`).join('\n');
  const r1 = run(redirects);
  assert.deepEqual(r1, { ok: false, error: 'more than 4 redirects', line: 6 });
  const folders = Array.from({ length: 40 }, (_, i) => `fileinto "F${i}";`).join('\n');
  const r2 = run(folders);
  assert.equal(r2.ok, false);
  assert.equal(r2.ok ? '' : r2.error, 'more than 32 actions');
  const many = 'if header :contains "subject" ["' + Array.from({ length: 1000 }, (_, i) => `k${i}`).join('", "') + '"] { keep; }\n';
  const r3 = run(many.repeat(3), { maxSteps: 2000, maxActions: 32, maxRedirects: 4 });
  assert.equal(r3.ok ? '' : r3.error, 'more than 2000 steps');
});

test('hasflag: each string of the flag list is a space-separated list of flags, as the internal variable is (RFC 5232 §4 examples)', () => {
  // "hasflag :is "b A"" is "hasflag ["b", "A"]": true when the flags are "A B"
  assert.deepEqual(actions('setflag "A B"; if hasflag :is "b A" { fileinto "string"; } if hasflag ["b", "A"] { fileinto "list"; }'), ['fileinto string [A B]', 'fileinto list [A B]']);
  assert.deepEqual(actions('setflag "NonJunk gnus-forward $Forwarded"; if hasflag :contains "junk forward" { fileinto "contains"; } if hasflag :contains "label other" { fileinto "wrong"; }'), ['fileinto contains [NonJunk gnus-forward $Forwarded]']);
  // an empty string names no flag
  assert.deepEqual(actions('setflag ""; if hasflag "" { fileinto "wrong"; } if hasflag :contains " " { fileinto "wrong2"; }'), ['implicit keep']);
});
