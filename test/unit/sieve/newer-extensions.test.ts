// The Sieve extensions Roundcube's and Thunderbird's filter editors write: subaddress (RFC 5233), mailbox
// (RFC 5490), date and index (RFC 5260), vacation-seconds (RFC 6131), environment (RFC 5183), duplicate
// (RFC 7352) and special-use (RFC 8579): what each refuses (with line and column) and what each does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { mailboxList, plainContext, type SieveContext } from '../../../src/sieve/context.ts';
import { datePart, parseDateTime } from '../../../src/sieve/dates.ts';
import { formatProblem } from '../../../src/sieve/errors.ts';
import { DEFAULT_LIMITS, executeSieve, type SieveOutcome } from '../../../src/sieve/execute.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';
import { SUPPORTED_EXTENSIONS } from '../../../src/sieve/script.ts';

const REQUIRE = 'require ["fileinto", "envelope", "variables", "subaddress", "mailbox", "date", "index", "relational", "comparator-i;ascii-numeric", "vacation", "vacation-seconds", "environment", "duplicate", "special-use"];\n';

const RAW = Buffer.from(
  [
    'Received: from a.example by b.example; Mon, 7 Dec 2026 10:00:00 +0000',
    'Received: from c.example by a.example; Sun, 6 Dec 2026 23:30:00 -0500',
    'From: Bob <bob+lists@remote.example>',
    'To: alice+news@corp.example, carol@corp.example',
    'To: dave+@corp.example',
    'Date: Fri, 4 Dec 2026 18:05:09 +0100',
    'Message-ID: <abc@remote.example>',
    'X-Id: 42',
    'Subject: hello',
    '',
    'body',
    '',
  ].join('\r\n'),
);

const MAILBOXES = mailboxList([{ name: 'INBOX' }, { name: 'Junk', specialUse: '\\Junk' }, { name: 'Archive', specialUse: '\\Archive' }, { name: 'Lists/news' }]);

function run(body: string, ctx: Partial<SieveContext> = {}, to = 'alice+news@corp.example'): SieveOutcome & { ok: true } {
  const r = compileSieve(REQUIRE + body);
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  const out = executeSieve(r.script, sieveMessage(RAW, { from: 'bob+lists@remote.example', to }), DEFAULT_LIMITS, plainContext({ mailboxes: MAILBOXES, nowMs: Date.UTC(2026, 11, 7, 11, 55, 29), ...ctx }));
  assert.ok(out.ok, out.ok ? '' : `line ${out.line}: ${out.error}`);
  return out;
}

function holds(testText: string, ctx: Partial<SieveContext> = {}): boolean {
  return run(`if ${testText} { fileinto "yes"; }`, ctx).actions.some((a) => a.kind === 'fileinto' && a.folder === 'yes');
}

function problems(text: string): string[] {
  const r = compileSieve(text);
  assert.equal(r.ok, false, 'expected the script to be refused');
  return r.ok ? [] : r.problems.map(formatProblem);
}

test('the new extensions are supported (ManageSieve advertises SUPPORTED_EXTENSIONS)', () => {
  for (const e of ['subaddress', 'mailbox', 'date', 'index', 'vacation-seconds', 'environment', 'duplicate', 'special-use']) assert.ok(SUPPORTED_EXTENSIONS.includes(e), e);
});

test('subaddress (RFC 5233 §4): :user and :detail of header and envelope addresses, with the configured delimiter', () => {
  assert.ok(holds('address :user "to" "alice"'));
  assert.ok(holds('address :detail "to" "news"'));
  assert.ok(holds('address :user "to" "carol"'), 'no delimiter: the whole local part is the user');
  assert.ok(!holds('address :detail :matches "to" "*car*"'), 'no delimiter: no detail to match');
  assert.ok(holds('address :detail :is "to" ""'), '"dave+" has an empty detail');
  assert.ok(holds('envelope :detail "to" "news"'));
  assert.ok(holds('envelope :user "from" "bob"'));
  assert.ok(holds('envelope :detail "from" "lists"'));
  assert.ok(holds('envelope :user "to" "alice-news"', { subaddressDelimiter: '-' }) === false);
  assert.ok(holds('envelope :detail "to" "x"', { subaddressDelimiter: '-' }) === false);
  assert.ok(holds('envelope :user "to" "alice+news"', { subaddressDelimiter: '' }), "'' turns sub-addressing off");
  const out = run('if envelope :detail :matches "to" "*" { fileinto "${1}"; }');
  assert.deepEqual(out.actions.map((a) => (a.kind === 'fileinto' ? a.folder : a.kind)), ['news'], 'the detail names the folder (Roundcube "plus" filing)');
  assert.deepEqual(problems('if address :detail "to" "x" { keep; }'), ['1:12: ":detail" needs require "subaddress"']);
  assert.deepEqual(problems('require "subaddress";\nif address :user :domain "to" "x" { keep; }'), ['2:18: ":domain" conflicts with ":user" given before']);
});

test('mailbox (RFC 5490): fileinto :create, mailboxexists (all named must exist)', () => {
  const out = run('fileinto :create "New/Folder";');
  assert.deepEqual(out.actions.map((a) => (a.kind === 'fileinto' ? a.folder : a.kind)), ['New/Folder']);
  assert.ok(holds('mailboxexists "Junk"'));
  assert.ok(holds('mailboxexists ["inbox", "Lists/news"]'), 'INBOX in any case');
  assert.ok(!holds('mailboxexists ["Junk", "Nope"]'));
  assert.ok(!holds('mailboxexists "${nothing}/x/"'), 'a name that cannot be a mailbox (known at run time) does not exist');
  assert.deepEqual(problems('require "fileinto";\nfileinto :create "x";'), ['2:10: ":create" needs require "mailbox"']);
  assert.deepEqual(problems('if mailboxexists "x" { keep; }'), ['1:4: mailboxexists needs require "mailbox"']);
  assert.deepEqual(problems('require "mailbox";\nif mailboxexists "a//b" { keep; }'), ['2:18: invalid mailbox name "a//b"']);
});

test('date (RFC 5260 §4): header date parts in the header zone, a given zone and the server zone; bad dates fail', () => {
  assert.ok(holds('date :originalzone "date" "date" "2026-12-04"'));
  assert.ok(holds('date :originalzone "date" "time" "18:05:09"'));
  assert.ok(holds('date :originalzone "date" "zone" "+0100"'));
  assert.ok(holds('date :zone "+0000" "date" "hour" "17"'));
  assert.ok(holds('date :zone "-0800" "date" "iso8601" "2026-12-04T09:05:09-08:00"'));
  assert.ok(holds('date :zone "+0000" "date" "std11" "Fri, 4 Dec 2026 17:05:09 +0000"'));
  assert.ok(holds('date :zone "+0000" "date" "weekday" "5"'), 'Friday');
  assert.ok(holds('date :zone "+0000" "date" "julian" "61378"'), 'Modified Julian Day');
  assert.ok(holds('date :zone "+0000" :value "ge" "date" "year" "2026"'));
  assert.ok(!holds('date "x-id" "year" "2026"'), 'not a date: no match');
  assert.ok(!holds('date "x-missing" "year" "2026"'));
  assert.ok(holds('date :zone "+1200" "date" "day" "05"'), 'the day turns in a zone far east');
  assert.deepEqual(problems('require "date";\nif date :zone "CET" "date" "year" "2026" { keep; }'), ['2:9: ":zone" needs one zone "+hhmm" or "-hhmm", not "CET"']);
  assert.deepEqual(problems('require "date";\nif date "date" "fortnight" "1" { keep; }'), ['2:16: unknown date part "fortnight" (year, month, day, date, julian, hour, minute, second, time, iso8601, std11, zone, weekday)']);
  assert.deepEqual(problems('if date "date" "year" "2026" { keep; }'), ['1:4: date needs require "date"']);
  const dyn = compileSieve(`${REQUIRE}set "p" "Fortnight";\nset "z" "+99";\nif date "date" "\${p}" "1" { keep; }`);
  assert.ok(dyn.ok);
  const bad = executeSieve(dyn.script, sieveMessage(RAW, { from: 'a@b.example', to: 'alice@corp.example' }));
  assert.deepEqual(bad.ok ? 'ok' : [bad.line, bad.error], [4, 'unknown date part "fortnight"'], 'a part known only at run time is checked then');
  assert.deepEqual(problems('require "date";\nif currentdate :originalzone "year" "2026" { keep; }'), ['2:16: unknown tag ":originalzone" for currentdate']);
});

test('dates: RFC 5322 forms, obsolete zones, two-digit years, impossible days', () => {
  assert.deepEqual(parseDateTime('4 Dec 26 18:05 EST'), { ms: Date.UTC(2026, 11, 4, 23, 5), offsetMinutes: -300 });
  assert.equal(parseDateTime('Mon, 31 Feb 2026 10:00:00 +0000'), undefined);
  assert.equal(parseDateTime('Mon, 1 Feb 2026 10:00:00 (comment) +0000')?.ms, Date.UTC(2026, 1, 1, 10));
  assert.equal(parseDateTime('x'.repeat(10_000)), undefined);
  assert.equal(datePart({ ms: Date.UTC(1858, 10, 17), offsetMinutes: 0 }, 'julian'), '0');
});

test('currentdate (RFC 5260 §5) with :zone, and :value comparisons as Roundcube writes them', () => {
  assert.ok(holds('currentdate :zone "+0000" "date" "2026-12-07"'));
  assert.ok(holds('currentdate :zone "+0000" :value "ge" "iso8601" "2026-12-01T00:00:00+00:00"'));
  assert.ok(holds('currentdate :zone "+0100" "hour" "12"'));
  assert.ok(!holds('currentdate :zone "+0000" :value "lt" "date" "2026-12-07"'));
});

test('index (RFC 5260 §6): :index n [:last] on header, address and date; :last needs :index', () => {
  assert.ok(holds('header :index 1 :contains "received" "b.example; Mon"'));
  assert.ok(holds('header :index 1 :last :contains "received" "from c.example"'));
  assert.ok(!holds('header :index 3 :contains "received" "example"'), 'past the last field: no match');
  assert.ok(holds('address :index 2 "to" "dave+@corp.example"'));
  assert.ok(!holds('address :index 2 "to" "carol@corp.example"'), 'the second To field only');
  assert.ok(holds('date :index 1 :last :originalzone "received" "zone" "-0500"'));
  assert.deepEqual(problems('require "index";\nif header :last "to" "x" { keep; }'), ['2:11: ":last" needs ":index"']);
  assert.deepEqual(problems('if header :index 1 "to" "x" { keep; }'), ['1:11: ":index" needs require "index"']);
  assert.deepEqual(problems('require "index";\nif header :index 0 "to" "x" { keep; }'), ['2:11: ":index" counts from 1']);
});

test('vacation-seconds (RFC 6131): :seconds sets the period, bounded below by a minute; excludes :days', () => {
  const v = (text: string): number | undefined => {
    const a = run(text).actions.find((x) => x.kind === 'vacation');
    return a?.kind === 'vacation' ? a.days * 86_400 : undefined;
  };
  assert.equal(v('vacation :seconds 3600 "away";'), 3600);
  assert.equal(v('vacation :seconds 0 "away";'), 60, 'below a minute: a minute');
  assert.equal(v('vacation :seconds 999999999 "away";'), 365 * 86_400);
  assert.equal(v('vacation :days 2 "away";'), 2 * 86_400);
  assert.deepEqual(problems('require "vacation";\nvacation :seconds 60 "x";'), ['2:10: ":seconds" needs require "vacation-seconds"']);
  assert.deepEqual(problems('require ["vacation", "vacation-seconds"];\nvacation :days 1 :seconds 60 "x";'), ['2:18: ":seconds" conflicts with ":days" given before']);
});

test('environment (RFC 5183): the standard items; an unknown item fails', () => {
  const environment = { ...plainContext().environment, host: 'mx.corp.example', domain: 'corp.example', 'remote-ip': '192.0.2.7' };
  assert.ok(holds('environment "location" "MDA"', { environment }));
  assert.ok(holds('environment "name" "spamgate"', { environment }));
  assert.ok(holds('environment "phase" "during"', { environment }));
  assert.ok(holds('environment :matches "host" "*.corp.example"', { environment }));
  assert.ok(holds('environment "remote-ip" "192.0.2.7"', { environment }));
  assert.ok(!holds('environment :matches "vnd.other" "*"', { environment }));
  assert.ok(!holds('environment :matches "constructor" "*"', { environment }), 'no property of Object.prototype');
  assert.deepEqual(problems('if environment "name" "x" { keep; }'), ['1:4: environment needs require "environment"']);
});

test('duplicate (RFC 7352): the Message-ID by default, :header, :uniqueid, :handle, :seconds; ids recorded by the caller', () => {
  const seen = new Set<string>();
  const duplicates = { seen: (handle: string, id: string): boolean => seen.has(`${handle}|${id}`) };
  const first = run('if duplicate { discard; }', { duplicates });
  assert.deepEqual(first.actions.map((a) => a.kind), ['keep']);
  assert.equal(first.duplicates.length, 1);
  const rec = first.duplicates[0];
  assert.equal(rec?.id, '<abc@remote.example>');
  assert.equal(rec?.seconds, 7 * 86_400, 'the default period');
  seen.add(`${rec?.handle}|${rec?.id}`);
  assert.deepEqual(run('if duplicate { discard; }', { duplicates }).actions.map((a) => a.kind), ['discard']);
  assert.deepEqual(run('if duplicate :handle "other" { discard; }', { duplicates }).actions.map((a) => a.kind), ['keep'], 'another handle, another memory');
  const byHeader = run('if duplicate :header "x-id" :seconds 60 :last { discard; }', { duplicates });
  assert.deepEqual(byHeader.duplicates.map((d) => [d.id, d.seconds, d.last]), [['42', 60, true]]);
  assert.deepEqual(run('if duplicate :uniqueid "${1}" { discard; }').duplicates.length, 0, 'an empty id is never a duplicate, nor kept');
  assert.deepEqual(run('if duplicate :header "x-missing" { discard; }').duplicates, [], 'no such field: false, nothing recorded');
  assert.equal(run('if duplicate :seconds 999999999 { discard; }').duplicates[0]?.seconds, 90 * 86_400, 'the site cap');
  const r = compileSieve(`${REQUIRE}set "i" "";\n${Array.from({ length: 40 }, (_, i) => `if duplicate :uniqueid "u${i}" { keep; }`).join('\n')}`);
  assert.ok(r.ok);
  const many = executeSieve(r.script, sieveMessage(RAW, { from: 'a@b.example', to: 'alice@corp.example' }));
  assert.deepEqual(many.ok ? 'ok' : many.error, 'more than 32 duplicate ids', 'bounded per run');
  assert.deepEqual(problems('require "duplicate";\nif duplicate :header "a" :uniqueid "b" { keep; }'), ['2:26: ":uniqueid" conflicts with ":header" given before']);
  assert.deepEqual(problems('if duplicate { keep; }'), ['1:4: duplicate needs require "duplicate"']);
});

test('special-use (RFC 8579): fileinto :specialuse takes the mailbox with the attribute, else the one named; specialuse_exists', () => {
  const folder = (text: string, ctx: Partial<SieveContext> = {}): string[] => run(text, ctx).actions.map((a) => (a.kind === 'fileinto' ? a.folder : a.kind));
  assert.deepEqual(folder('fileinto :specialuse "\\\\Junk" "Spam";'), ['Junk']);
  assert.deepEqual(folder('fileinto :specialuse "\\\\junk" "Spam";'), ['Junk'], 'attributes are case-insensitive');
  assert.deepEqual(folder('fileinto :specialuse "\\\\Junk" "Spam";', { mailboxes: mailboxList([{ name: 'INBOX' }]) }), ['Spam'], 'none has it: the name given');
  assert.deepEqual(folder('fileinto :specialuse "\\\\Flagged" :create "Spam";'), ['Spam']);
  assert.ok(holds('specialuse_exists "\\\\Junk"'));
  assert.ok(holds('specialuse_exists ["\\\\Junk", "\\\\Archive"]'));
  assert.ok(!holds('specialuse_exists ["\\\\Junk", "\\\\Sent"]'));
  assert.ok(holds('specialuse_exists "Junk" "\\\\Junk"'));
  assert.ok(!holds('specialuse_exists "Archive" "\\\\Junk"'));
  assert.ok(!holds('specialuse_exists "Nope" "\\\\Junk"'));
  assert.deepEqual(problems('require ["fileinto", "special-use"];\nfileinto :specialuse "Junk" "Spam";'), ['2:10: fileinto :specialuse needs one special-use attribute such as "\\Junk", not "Junk"']);
  assert.deepEqual(problems('require "fileinto";\nfileinto :specialuse "\\\\Junk" "Spam";'), ['2:10: ":specialuse" needs require "special-use"']);
  assert.deepEqual(problems('require "special-use";\nif specialuse_exists "junk" { keep; }'), ['2:22: invalid special-use attribute "junk"']);
});
