// The lists check: what each list type matches in its phase, `authenticated` read from the SPF/DKIM/DMARC
// results the earlier checks of the transaction left, and the 'first' late stage between the early checks
// (which it sees) and the meta rules (which see it).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createListChecks } from '../../../src/checks/lists.ts';
import type { CheckName } from '../../../src/checks/names.ts';
import { runChecks } from '../../../src/checks/runner.ts';
import type { Check, CheckContext, Phase, SymbolHit } from '../../../src/checks/types.ts';
import { DKIM_RESULT_KEY, DMARC_RESULT_KEY } from '../../../src/checks/dkim-dmarc.ts';
import { FCRDNS_RESULT_KEY } from '../../../src/checks/fcrdns.ts';
import { createGreylistCheck } from '../../../src/checks/greylist.ts';
import { greylistSection } from '../../../src/config/sections/redis.ts';
import type { GreylistStore } from '../../../src/greylist/store.ts';
import { SPF_RESULT_KEY } from '../../../src/checks/spf.ts';
import { withListSymbols } from '../../../src/lists/compile.ts';
import { loadRuleset, type Ruleset } from '../../../src/scoring/ruleset.ts';
import { scoreHits } from '../../../src/scoring/scorer.ts';
import { createMessageView } from '../../../src/smtp/message-view.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const RULES = `lists:
  LIST_NET: { type: ip, weight: reject, description: net, entries: [203.0.113.0/24, "2001:db8::/32"] }
  LIST_HOST: { type: client_hostname, weight: 2, description: host, entries: [.dyn.example] }
  LIST_HELO: { type: helo, weight: 1, description: helo, entries: [bad.example, "[192.0.2.9]"] }
  LIST_SENDER: { type: envelope_from, weight: reject, description: sender, entries: [spam@bulk.example] }
  LIST_SPF: { type: envelope_from, authenticated: spf, weight: -20, description: partner by spf, entries: [partner.example] }
  LIST_DKIM: { type: from, authenticated: dkim, weight: -10, description: from by dkim, entries: [.partner.example, partner.example] }
  LIST_DMARC: { type: from, authenticated: dmarc, weight: -10, description: from by dmarc, entries: [partner.example] }
  LIST_ANY: { type: envelope_from, authenticated: any, weight: -1, description: any, entries: [partner.example] }
  LIST_FROM: { type: from, weight: 3, description: from, entries: [boss@corp.example] }
  LIST_RCPT: { type: rcpt, weight: -50, description: abuse desk, entries: [abuse@localhost] }
`;

function ruleset(t: TestContext): Ruleset {
  const dir = tempDir(t, 'spamgate-lists-check-');
  writeFileSync(path.join(dir, 'lists.yaml'), RULES);
  return withListSymbols(loadRuleset([dir]));
}

interface Ctx {
  phase: Phase;
  ip?: string;
  helo?: string;
  hostname?: string;
  mailFrom?: string;
  rcpt?: string;
  from?: string;
  /** The From field(s) as written, instead of one built from `from`. */
  fromFields?: string;
  results?: Array<[string, unknown]>;
  hitsSoFar?: SymbolHit[];
}

async function run(checks: readonly Check[], c: Ctx): Promise<SymbolHit[]> {
  const raw = Buffer.from(`${c.fromFields ?? `From: ${c.from ?? '<nobody@nowhere.example>'}\r\n`}Subject: x\r\n\r\nbody\r\n`);
  return runChecks(
    checks,
    {
      phase: c.phase,
      session: { id: 's', clientIp: c.ip ?? '192.0.2.1', clientPort: 1, secure: false, trusted: false, submission: false, localIp: '127.0.0.1', localPort: 25, ...(c.helo ? { helo: c.helo } : {}), ...(c.hostname ? { clientHostname: c.hostname } : {}) },
      envelope: { mailFrom: c.mailFrom ?? '', rcptTo: [], smtputf8: false, body8bit: false },
      ...(c.rcpt ? { rcpt: c.rcpt } : {}),
      ...(c.phase === 'data' ? { message: createMessageView(raw) } : {}),
      now: 0,
      log: silentLogger,
      addHeader: () => undefined,
      results: new Map(c.results ?? []),
      hitsSoFar: c.hitsSoFar ?? [],
    },
    { defaultTimeoutMs: 1000, trustedClient: false },
  );
}

const show = (hits: readonly SymbolHit[]): string[] => hits.map((h) => `${h.symbol}[${(h.options ?? []).join(',')}]`).sort();
const spf = (result: string, domain: string, identity = 'mailfrom'): [string, unknown] => [SPF_RESULT_KEY, { result, domain, identity }];
const dkim = (...sigs: Array<[string, string]>): [string, unknown] => [DKIM_RESULT_KEY, sigs.map(([d, result]) => ({ signingDomain: d, status: { result } }))];
const dmarc = (result: string, from: string): [string, unknown] => [DMARC_RESULT_KEY, { domain: from, status: { result, header: { from } } }];

test('one check per phase with lists, each late (first), every list symbol defined', (t) => {
  const rs = ruleset(t);
  const checks = createListChecks(rs);
  assert.deepEqual(checks.map((c) => [c.phase, c.late, c.symbols.join(' ')]), [
    ['connect', 'first', 'LIST_NET LIST_HOST'],
    ['helo', 'first', 'LIST_HELO'],
    ['mail', 'first', 'LIST_SENDER LIST_SPF'],
    ['rcpt', 'first', 'LIST_RCPT'],
    ['data', 'first', 'LIST_DKIM LIST_DMARC LIST_ANY LIST_FROM'],
  ]);
  for (const c of checks) for (const s of c.symbols) assert.ok(rs.symbols.has(s), s);
});

test('connect, helo, mail and rcpt subjects', async (t) => {
  const checks = createListChecks(ruleset(t));
  assert.deepEqual(show(await run(checks, { phase: 'connect', ip: '203.0.113.9' })), ['LIST_NET[203.0.113.0/24]']);
  assert.deepEqual(show(await run(checks, { phase: 'connect', ip: '2001:db8::25' })), ['LIST_NET[2001:db8::/32]']);
  assert.deepEqual(show(await run(checks, { phase: 'connect', ip: '198.51.100.1' })), []);
  // the host name: a trusted proxy's NAME, or the forward-confirmed name the fcrdns check found
  assert.deepEqual(show(await run(checks, { phase: 'connect', hostname: 'h1.dyn.example' })), ['LIST_HOST[.dyn.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'connect', results: [[FCRDNS_RESULT_KEY, 'h2.DYN.example']] })), ['LIST_HOST[.dyn.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'helo', helo: 'BAD.example' })), ['LIST_HELO[bad.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'helo', helo: '[192.0.2.9]' })), ['LIST_HELO[[192.0.2.9]]']);
  assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: 'Spam@Bulk.example' })), ['LIST_SENDER[spam@bulk.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: '' })), [], 'the null sender matches no address');
  assert.deepEqual(show(await run(checks, { phase: 'rcpt', rcpt: 'ABUSE@localhost' })), ['LIST_RCPT[abuse@localhost]']);
  assert.deepEqual(show(await run(checks, { phase: 'rcpt', rcpt: 'postmaster@localhost' })), []);
});

test('authenticated: spf needs an SPF pass for the MAIL FROM domain itself, not the HELO identity nor another domain', async (t) => {
  const checks = createListChecks(ruleset(t));
  const from = 'news@partner.example';
  assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: from, results: [spf('pass', 'partner.example')] })), ['LIST_SPF[partner.example,spf]']);
  for (const r of [spf('softfail', 'partner.example'), spf('none', 'partner.example'), spf('pass', 'partner.example', 'helo'), spf('pass', 'evil.example')]) {
    assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: from, results: [r] })), [], JSON.stringify(r));
  }
  assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: from })), [], 'no SPF result at all');
});

test('authenticated: dkim and dmarc for the header From, aligned; any takes the first that passes', async (t) => {
  const checks = createListChecks(ruleset(t));
  const data = (from: string, results: Array<[string, unknown]>, mailFrom = 'bounce@partner.example'): Promise<SymbolHit[]> => run(checks, { phase: 'data', from, mailFrom, results });
  assert.deepEqual(show(await data('Partner <ceo@partner.example>', [dkim(['partner.example', 'pass'])])), ['LIST_ANY[partner.example,dkim]', 'LIST_DKIM[partner.example,dkim]']);
  assert.deepEqual(show(await data('ceo@mail.partner.example', [dkim(['partner.example', 'pass'])])), ['LIST_ANY[partner.example,dkim]', 'LIST_DKIM[.partner.example,dkim]'], 'a parent domain signature aligns');
  assert.deepEqual(show(await data('ceo@partner.example', [dkim(['evil.example', 'pass'], ['partner.example', 'fail'])])), [], 'an unaligned pass or an aligned fail is nothing');
  assert.deepEqual(show(await data('ceo@partner.example', [dmarc('pass', 'partner.example')], 'x@elsewhere.example')), ['LIST_DMARC[partner.example,dmarc]']);
  assert.deepEqual(show(await data('ceo@partner.example', [dmarc('fail', 'partner.example')], 'x@elsewhere.example')), []);
  assert.deepEqual(show(await data('ceo@partner.example', [spf('pass', 'partner.example')])), ['LIST_ANY[partner.example,spf]']);
  // a From with two mailboxes has no single reading: nothing matches
  assert.deepEqual(show(await data('ceo@partner.example, x@y.example', [dkim(['partner.example', 'pass'])])), ['LIST_ANY[partner.example,dkim]']);
  assert.deepEqual(show(await data('<boss@corp.example>', [])), ['LIST_FROM[boss@corp.example]']);
});

test("a list check runs after the phase's early checks (seeing SPF's result) and before meta rules, which see its hit", async (t) => {
  const checks = createListChecks(ruleset(t));
  const spfLike: Check = {
    name: 'spf' as CheckName,
    phase: 'mail',
    symbols: ['SPF_PASS'],
    async run(ctx: CheckContext) {
      await new Promise((r) => setTimeout(r, 20));
      ctx.results.set(SPF_RESULT_KEY, { result: 'pass', domain: 'partner.example', identity: 'mailfrom' });
      return [{ symbol: 'SPF_PASS' }];
    },
  };
  let metaSaw: string[] = [];
  const metaLike: Check = { name: 'content_meta' as CheckName, phase: 'mail', symbols: [], late: true, run: (ctx) => ((metaSaw = ctx.hitsSoFar.map((h) => h.symbol)), []) };
  const hits = await run([metaLike, ...checks, spfLike], { phase: 'mail', mailFrom: 'a@partner.example' });
  assert.deepEqual(hits.map((h) => h.symbol), ['SPF_PASS', 'LIST_SPF']);
  assert.deepEqual(metaSaw.sort(), ['LIST_SPF', 'SPF_PASS']);
});

test('a quoted local part that needs no quoting names the same mailbox: it matches the mailbox entry', async (t) => {
  const checks = createListChecks(ruleset(t));
  // RFC 5321 §4.1.2: "spam"@bulk.example and spam@bulk.example are one mailbox; rcpt addresses are already unquoted
  assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: '"spam"@bulk.example' })), ['LIST_SENDER[spam@bulk.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: '"sp\\am"@bulk.example' })), ['LIST_SENDER[spam@bulk.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'data', from: 'Boss <"boss"@corp.example>' })), ['LIST_FROM[boss@corp.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: '"spam x"@bulk.example' })), [], 'a local part that needs its quotes is another mailbox');
});

test('a sub-address (user+tag@) matches the entry of its mailbox, as the mail host delivers it there', async (t) => {
  const rs = ruleset(t);
  const checks = createListChecks(rs, { subaddressDelimiter: '+' });
  assert.deepEqual(show(await run(checks, { phase: 'rcpt', rcpt: 'abuse+reports@localhost' })), ['LIST_RCPT[abuse@localhost]']);
  assert.deepEqual(show(await run(checks, { phase: 'mail', mailFrom: 'spam+1@bulk.example' })), ['LIST_SENDER[spam@bulk.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'data', from: '<boss+x@corp.example>' })), ['LIST_FROM[boss@corp.example]']);
  assert.deepEqual(show(await run(checks, { phase: 'rcpt', rcpt: '+reports@localhost' })), [], 'no mailbox before the tag');
  // sub-addressing turned off (mailhost.subaddress_delimiter: ""): user+tag is a mailbox of its own
  assert.deepEqual(show(await run(createListChecks(rs, { subaddressDelimiter: '' }), { phase: 'rcpt', rcpt: 'abuse+reports@localhost' })), []);
});

test('a deny from list sees every address of every From field; an allow list only a single From with one mailbox', async (t) => {
  const checks = createListChecks(ruleset(t));
  const data = (fromFields: string, results: Array<[string, unknown]> = []): Promise<SymbolHit[]> => run(checks, { phase: 'data', fromFields, results });
  // LIST_FROM (weight 3) is not an allowance: a second mailbox or a second From field must not hide the listed one
  assert.deepEqual(show(await data('From: a@b.example, Boss <boss@corp.example>\r\n')), ['LIST_FROM[boss@corp.example]']);
  assert.deepEqual(show(await data('From: <a@b.example>\r\nFrom: <boss@corp.example>\r\n')), ['LIST_FROM[boss@corp.example]']);
  assert.deepEqual(show(await data('From: undisclosed: boss@corp.example;\r\n')), ['LIST_FROM[boss@corp.example]'], 'in a group');
  // an allowance needs one reading: with two From fields a reader may be shown the other one
  const pass = [dkim(['partner.example', 'pass'])];
  assert.deepEqual(show(await data('From: <ceo@partner.example>\r\n', pass)), ['LIST_DKIM[partner.example,dkim]']);
  assert.deepEqual(show(await data('From: <ceo@partner.example>\r\nFrom: <ceo@bank.example>\r\n', pass)), []);
  assert.deepEqual(show(await data('From: <ceo@partner.example>, <ceo@bank.example>\r\n', pass)), []);
});

test('at RCPT greylisting (late, last) sees the rcpt lists: a refused recipient leaves no triplet, an allowed one is not greylisted below min_score', async (t) => {
  const dir = tempDir(t, 'spamgate-lists-greylist-');
  writeFileSync(
    path.join(dir, 'lists.yaml'),
    `symbols:
  GREYLIST_DEFER: { weight: tempfail, description: d }
  GREYLIST_PASS: { weight: 0, description: p }
  GREYLIST_UNAVAILABLE: { weight: tempfail, description: u }
  GREYLIST_SKIPPED: { weight: 0, description: s }
lists:
  LIST_CLOSED: { type: rcpt, weight: reject, description: closed, entries: [closed@localhost] }
  LIST_WELCOME: { type: rcpt, weight: -10, description: welcome, entries: [abuse@localhost] }
`,
  );
  const rs = withListSymbols(loadRuleset([dir]));
  const seen: string[] = [];
  const store: GreylistStore = {
    kind: 'test',
    check: async (triplet) => {
      seen.push(triplet.recipient);
      return { status: 'deferred', retryInMs: 1000, first: true };
    },
    close: async () => undefined,
  };
  const greylist = createGreylistCheck({ store, config: greylistSection.parse({ enabled: true, min_score: 0 }), ruleset: rs, onError: 'tempfail' });
  const checks = [greylist, ...createListChecks(rs)];
  assert.deepEqual(show(await run(checks, { phase: 'rcpt', mailFrom: 'a@b.example', rcpt: 'closed@localhost' })), ['LIST_CLOSED[closed@localhost]']);
  assert.deepEqual(show(await run(checks, { phase: 'rcpt', mailFrom: 'a@b.example', rcpt: 'abuse@localhost' })), ['LIST_WELCOME[abuse@localhost]']);
  assert.deepEqual(seen, [], 'no triplet recorded for either');
  assert.deepEqual(show(await run(checks, { phase: 'rcpt', mailFrom: 'a@b.example', rcpt: 'other@localhost' })), ['GREYLIST_DEFER[192.0.2.0/24,first attempt,retry in 1s]']);
  assert.deepEqual(seen, ['other@localhost']);
  // a recipient after the allowed one in the same transaction does not get its allowance
  const [welcome] = await run(checks, { phase: 'rcpt', mailFrom: 'a@b.example', rcpt: 'abuse@localhost' });
  assert.equal(welcome?.rcpt, 'abuse@localhost', 'the hit is about that recipient');
  assert.deepEqual(show(await run(checks, { phase: 'rcpt', mailFrom: 'a@b.example', rcpt: 'next@localhost', hitsSoFar: [welcome as SymbolHit] })), ['GREYLIST_DEFER[192.0.2.0/24,first attempt,retry in 1s]']);
  assert.deepEqual(seen, ['other@localhost', 'next@localhost']);
});

test('{options} in a list reply names the entry that matched, not the list file and line (those are for the logs)', async (t) => {
  const dir = tempDir(t, 'spamgate-lists-reply-');
  writeFileSync(path.join(dir, 'nets.txt'), '# refused\n203.0.113.0/24\n');
  writeFileSync(path.join(dir, 'lists.yaml'), `lists:\n  LIST_NETS: { type: ip, weight: reject, reply: "554 5.7.1 Refused ({options})", description: nets, file: nets.txt }\n`);
  const rs = withListSymbols(loadRuleset([dir]));
  const hits = await run(createListChecks(rs), { phase: 'connect', ip: '203.0.113.9' });
  assert.deepEqual(show(hits), ['LIST_NETS[203.0.113.0/24,nets.txt:2]'], 'the hit names the file line');
  const verdict = scoreHits(hits, rs);
  assert.equal(verdict.reply, '554 5.7.1 Refused (203.0.113.0/24)');
  assert.deepEqual(verdict.symbols[0]?.options, ['203.0.113.0/24', 'nets.txt:2'], 'the verdict (log line, header) keeps it');
});

test('a DKIM signature that leaves part of the body unsigned (l=) authenticates nothing: anyone may append to it', async (t) => {
  const checks = createListChecks(ruleset(t));
  const data = (results: Array<[string, unknown]>): Promise<SymbolHit[]> => run(checks, { phase: 'data', from: '<ceo@partner.example>', mailFrom: 'x@elsewhere.example', results });
  const partial: [string, unknown] = [DKIM_RESULT_KEY, [{ signingDomain: 'partner.example', status: { result: 'pass', underSized: 120 } }]];
  assert.deepEqual(show(await data([partial])), []);
  // DMARC passed through that signature alone: no more than the signature
  const viaPartial: [string, unknown] = [DMARC_RESULT_KEY, { domain: 'partner.example', status: { result: 'pass', header: { from: 'partner.example' } }, alignment: { spf: {}, dkim: { result: 'partner.example', underSized: 120 } } }];
  assert.deepEqual(show(await data([partial, viaPartial])), []);
  // a whole-body signature does; so does DMARC aligned by SPF whatever the signature
  const whole: [string, unknown] = [DKIM_RESULT_KEY, [{ signingDomain: 'partner.example', status: { result: 'pass' } }]];
  assert.deepEqual(show(await data([whole])), ['LIST_DKIM[partner.example,dkim]']);
  const viaSpf: [string, unknown] = [DMARC_RESULT_KEY, { domain: 'partner.example', status: { result: 'pass', header: { from: 'partner.example' } }, alignment: { spf: { result: 'partner.example' }, dkim: { result: 'partner.example', underSized: 120 } } }];
  assert.deepEqual(show(await data([partial, viaSpf])), ['LIST_DMARC[partner.example,dmarc]']);
});
