// Per-user sender allow and block lists end to end: a running full-stack gateway with the users alice and bob, a
// loopback dns2 server publishing SPF for partner.example, clients presented by XCLIENT, and `spamgate users
// allow|block|unlist|lists` run as real processes against the running instance's config and data directory. An
// allowed, SPF-authenticated sender lowers alice's copy only (INBOX for her, Junk for bob in one transaction); the
// same sender forged gets nothing; a blocked sender sends her copy to Junk and leaves bob's in INBOX; bad entries,
// unknown users and the bounds are refused with errors that name the problem.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { MAX_ENTRIES_PER_USER, userListsPath, writeUserLists } from '../../src/lists/user-list-file.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { runCli } from '../helpers/cli-process.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import type { SmtpWire } from '../helpers/smtp-wire.ts';
import { xclientSession } from '../helpers/xclient.ts';

const PARTNER_IP = '192.0.2.10';
const FORGER_IP = '192.0.2.66';
const ALICE = 'alice@localhost';
const BOB = 'bob@localhost';
/** Only SPF and DKIM/DMARC of the DNS checks: the score is the test's content rule and the lists. */
const DISABLED = ['fcrdns', 'helo', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'uribl', 'rhsbl_from_header', 'greylist', 'bayes'];

interface Setup {
  gw: RunningGateway;
  cli: (...args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;
}

async function start(t: TestContext, extra: Record<string, unknown> = {}): Promise<Setup> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-user-lists-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'zz-test.yaml'), "content_rules:\n  - { symbol: CT_TEST_SPAMMY, description: a marker scoring high, weight: 10, type: body, regex: 'SPAMMY-MARKER' }\n  - { symbol: CT_TEST_LOUD, description: a marker past the autolearn score, weight: 13, type: body, regex: 'LOUD-MARKER' }\n");
  const password = await hashPassword('user-password', { N: 1024, r: 8, p: 1 });
  // the config file apart from the rules directory (every YAML file there is a rules file)
  const configFile = path.join(mkdtempSync(path.join(dir, '..', 'spamgate-user-lists-config-')), 'spamgate.yaml');
  t.after(() => rmSync(path.dirname(configFile), { recursive: true, force: true }));
  const gw = await startGateway(
    t,
    {
      rules_dirs: [SHIPPED_RULES_DIR, dir],
      users: { [ALICE]: { password }, [BOB]: { password } },
      bayes: { enabled: false },
      smtp: { xclient_from: ['127.0.0.1/32'], trusted_networks: [] },
      checks: { disabled: DISABLED, timeout: '1500ms' },
      // 1 s, under checks.timeout: a loaded machine can take over 300 ms to read the test server's answer
      dns: { timeout: '1s', retries: 0 },
      ...extra,
    },
    { zones: { 'partner.example': [{ TXT: `v=spf1 ip4:${PARTNER_IP} ~all` }] }, configFile },
  );
  return { gw, cli: (...args) => runCli(['users', ...args, '--config', configFile, '--data-dir', gw.dataDir]) };
}

async function transaction(wire: SmtpWire, from: string, body: string, rcpts = [ALICE, BOB]): Promise<void> {
  assert.equal((await wire.command(`MAIL FROM:<${from}>`)).code, 250);
  for (const r of rcpts) assert.equal((await wire.command(`RCPT TO:<${r}>`)).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  const id = Math.random().toString(36).slice(2);
  wire.write(`From: <${from}>\r\nTo: <${ALICE}>, <${BOB}>\r\nSubject: user lists ${id}\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\nMessage-ID: <${id}@test>\r\n\r\n${body}\r\n`);
  const data = await wire.command('.', 10_000);
  assert.equal(data.code, 250, data.lines.join('|'));
}

/** Waits until alice and bob each have one more message, and says where each landed. */
async function landed(gw: RunningGateway, before: Record<string, number>): Promise<Record<'alice' | 'bob', 'INBOX' | 'Junk'>> {
  const count = (u: string, f: '' | '.Junk'): number => maildirMessages(gw.dataDir, f, u).length;
  const where = (u: 'alice' | 'bob'): 'INBOX' | 'Junk' | undefined => (count(u, '') > (before[`${u}`] ?? 0) ? 'INBOX' : count(u, '.Junk') > (before[`${u}.Junk`] ?? 0) ? 'Junk' : undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const a = where('alice');
    const b = where('bob');
    if (a && b) return { alice: a, bob: b };
    if (Date.now() > deadline) throw new Error('the copies were not delivered');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const counts = (gw: RunningGateway): Record<string, number> => ({
  alice: maildirMessages(gw.dataDir, '', 'alice').length,
  'alice.Junk': maildirMessages(gw.dataDir, '.Junk', 'alice').length,
  bob: maildirMessages(gw.dataDir, '', 'bob').length,
  'bob.Junk': maildirMessages(gw.dataDir, '.Junk', 'bob').length,
});

/** The last transaction's log line's symbols, as text. */
const lastSymbols = (gw: RunningGateway): string => JSON.stringify(gw.transactions().at(-1) ?? {});

test("an allowed, SPF-authenticated sender goes to alice's INBOX and bob's Junk; forged, it gets nothing; the CLI change counts without a restart", async (t) => {
  const { gw, cli } = await start(t);
  // before alice lists the partner: both copies in Junk
  let before = counts(gw);
  await transaction(await xclientSession(t, gw.smtpPort, PARTNER_IP), 'news@partner.example', 'SPAMMY-MARKER offer');
  assert.deepEqual(await landed(gw, before), { alice: 'Junk', bob: 'Junk' });

  const added = await cli('allow', 'Alice@LOCALHOST', 'Partner.Example');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /partner\.example added to the allow list of alice@localhost/);
  const shown = await cli('lists', ALICE);
  assert.equal(shown.stdout, 'allow\tpartner.example\n');

  before = counts(gw);
  await transaction(await xclientSession(t, gw.smtpPort, PARTNER_IP), 'news@partner.example', 'SPAMMY-MARKER offer');
  assert.deepEqual(await landed(gw, before), { alice: 'INBOX', bob: 'Junk' }, lastSymbols(gw));
  // one copy, tagged with the strictest verdict (bob's); the log line of alice's allowance is the counter below

  // the same sender from an address its SPF record does not name: USER_ALLOW_UNAUTHENTICATED, weight 0
  before = counts(gw);
  await transaction(await xclientSession(t, gw.smtpPort, FORGER_IP), 'news@partner.example', 'SPAMMY-MARKER offer');
  assert.deepEqual(await landed(gw, before), { alice: 'Junk', bob: 'Junk' });

  // unlisted again: back to Junk, without a restart either
  const removed = await cli('unlist', ALICE, 'partner.example');
  assert.equal(removed.code, 0, removed.stderr);
  before = counts(gw);
  await transaction(await xclientSession(t, gw.smtpPort, PARTNER_IP), 'news@partner.example', 'SPAMMY-MARKER offer');
  assert.deepEqual(await landed(gw, before), { alice: 'Junk', bob: 'Junk' });

  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort ?? 0}/metrics`)).text();
  assert.match(metrics, /spamgate_user_list_hits_total\{list="allow",result="authenticated"\} 1\n/);
  assert.match(metrics, /spamgate_user_list_hits_total\{list="allow",result="unauthenticated"\} 1\n/);
  assert.match(metrics, /spamgate_user_list_hits_total\{list="block",result="matched"\} 0\n/);
});

test("a sender alice blocks lands in her Junk and in bob's INBOX; allowing it takes it off the block list", async (t) => {
  const { gw, cli } = await start(t);
  const blocked = await cli('block', ALICE, 'shop.example');
  assert.equal(blocked.code, 0, blocked.stderr);
  let before = counts(gw);
  await transaction(await xclientSession(t, gw.smtpPort, PARTNER_IP), 'deals@shop.example', 'a clean message');
  assert.deepEqual(await landed(gw, before), { alice: 'Junk', bob: 'INBOX' }, lastSymbols(gw));
  assert.match(maildirMessages(gw.dataDir, '.Junk', 'alice').at(-1) ?? '', /USER_BLOCK/);
  // to a sub-address of hers (mailhost.subaddress_delimiter): her lists still
  before = counts(gw);
  await transaction(await xclientSession(t, gw.smtpPort, PARTNER_IP), 'deals@shop.example', 'a clean message', ['alice+news@localhost', BOB]);
  assert.deepEqual(await landed(gw, before), { alice: 'Junk', bob: 'INBOX' }, lastSymbols(gw));
  assert.match(lastSymbols(gw), /alice\+news@localhost/);
  // the header From is matched too: a blocked .domain (its subdomains) in From, with a clean envelope sender
  assert.equal((await cli('block', BOB, '.spam.example')).code, 0);
  before = counts(gw);
  const wire = await xclientSession(t, gw.smtpPort, PARTNER_IP);
  assert.equal((await wire.command('MAIL FROM:<ok@partner.example>')).code, 250);
  for (const r of [ALICE, BOB]) assert.equal((await wire.command(`RCPT TO:<${r}>`)).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(`From: <x@mail.spam.example>\r\nTo: <${BOB}>\r\nSubject: s\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\nMessage-ID: <s1@test>\r\n\r\nhello\r\n`);
  assert.equal((await wire.command('.', 10_000)).code, 250);
  assert.deepEqual(await landed(gw, before), { alice: 'INBOX', bob: 'Junk' });

  const moved = await cli('allow', ALICE, 'shop.example');
  assert.equal(moved.code, 0, moved.stderr);
  assert.match(moved.stdout, /taken off its block list/);
  assert.equal((await cli('lists', ALICE)).stdout, 'allow\tshop.example\n');
});

test('bad entries, unknown users and the bounds are refused naming the problem; the lists stay as they were', async (t) => {
  const { gw, cli } = await start(t);
  const bad = await cli('allow', ALICE, 'not an@entry');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid entry: expected user@domain, domain or \.domain/);
  const long = await cli('block', ALICE, `${'a'.repeat(250)}.example`);
  assert.equal(long.code, 2);
  assert.match(long.stderr, /entry too long/);
  const unknown = await cli('allow', 'carol@localhost', 'partner.example');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no such user carol@localhost/);
  const foreign = await cli('allow', 'alice@elsewhere.example', 'partner.example');
  assert.equal(foreign.code, 2);
  const missing = await cli('unlist', ALICE, 'partner.example');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /partner\.example is not on a list of alice@localhost/);
  assert.equal((await cli('lists', ALICE)).stdout, '(no entries for alice@localhost)\n');
  // a user at the bound: one more is refused
  writeUserLists(userListsPath(gw.dataDir), { [ALICE]: { allow: Array.from({ length: MAX_ENTRIES_PER_USER }, (_, i) => `p${i}.example`), block: [] } });
  const full = await cli('block', ALICE, 'one-more.example');
  assert.equal(full.code, 1);
  assert.match(full.stderr, new RegExp(`has ${MAX_ENTRIES_PER_USER} entries already`));
  // a hand-edited broken file is refused naming it; the command changes nothing
  writeFileSync(userListsPath(gw.dataDir), '{"alice@localhost": {"allow": ["bad entry"]}}');
  const broken = await cli('lists', ALICE);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /user-lists\.json: alice@localhost\.allow: expected user@domain/);
});

test("alice's allowance teaches nobody: an allowed spam is not autolearned as ham (Bayes is everyone's)", async (t) => {
  // Bayes silent (minimum out of reach), so the rules decide autolearn: ham at -2 and below, spam at 12 and above
  const { gw, cli } = await start(t, { bayes: { enabled: true, min_spam: 1_000_000, save_delay: 0, autolearn: { enabled: true, spam_score: 12, ham_score: -2 } } });
  assert.equal((await cli('allow', ALICE, 'partner.example')).code, 0);
  // SPAMMY (10) + SPF_PASS (-1) + USER_ALLOW (-20): -11 for alice, her only copy
  await transaction(await xclientSession(t, gw.smtpPort, PARTNER_IP), 'news@partner.example', 'SPAMMY-MARKER offer', [ALICE]);
  const learned = async (): Promise<string> => (await gw.app.registry.metrics()).split('\n').filter((l) => l.startsWith('spamgate_bayes_learned_total{')).join('\n');
  // then a loud message to bob, autolearned as spam: the learner is one serial queue, so once it is counted the
  // first message has been decided too
  await transaction(await xclientSession(t, gw.smtpPort, FORGER_IP), 'x@elsewhere.example', 'LOUD-MARKER offer', [BOB]);
  const deadline = Date.now() + 10_000;
  while (!/class="spam",source="autolearn"\} 1/.test(await learned())) {
    if (Date.now() > deadline) throw new Error(`the loud message was not autolearned: ${await learned()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.doesNotMatch(await learned(), /class="ham",source="autolearn"\} [1-9]/);
});
