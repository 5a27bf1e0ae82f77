// The digest's sender list links end to end in full-stack mode: a running gateway with alice and bob, a loopback
// dns2 server publishing SPF for partner.example, mail quarantined from partner.example and spam.example, and a
// digest round (`spamgate quarantine digest --now`, a real process). Alice's digest carries allow and block links
// per item and one lists link; a GET changes nothing; the allow POST releases her copy and lists the envelope
// sender, so the next SPF-authenticated message from it scores USER_ALLOW and reaches her INBOX; the block POST
// deletes and blocks; the lists page shows her entries alone (escaped) and removes one per POST; a token made for
// another action or another user is refused (403), an expired one 410, and a full list answers 409 changing nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import PostalMime from 'postal-mime';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { readUserLists, userListsPath, writeUserLists, type UserListsData } from '../../src/lists/user-list-file.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { readQuarantined } from '../../src/quarantine/format.ts';
import { LINK_SECRET_FILE } from '../../src/quarantine/link-secret.ts';
import { createLinkTokens, type TokenAction } from '../../src/quarantine/link-token.ts';
import { runCli } from '../helpers/cli-process.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { quarantineRules } from '../helpers/quarantine-rules.ts';
import type { SmtpWire } from '../helpers/smtp-wire.ts';
import { xclientSession } from '../helpers/xclient.ts';

const PARTNER_IP = '192.0.2.10';
const ALICE = 'alice@localhost';
const BOB = 'bob@localhost';
/** Only SPF and DKIM/DMARC of the DNS checks score: the test's Subject rule, SPF and the lists decide. */
const DISABLED = ['fcrdns', 'helo', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'uribl', 'rhsbl_from_header', 'greylist', 'bayes'];

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(ok(), what);
}

/** One message over a session presented as coming from `ip`; the queue id it was accepted under. */
async function send(wire: SmtpWire, from: string, rcpts: string[], subject: string): Promise<string> {
  assert.equal((await wire.command(`MAIL FROM:<${from}>`)).code, 250);
  for (const r of rcpts) assert.equal((await wire.command(`RCPT TO:<${r}>`)).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  const mid = Math.random().toString(36).slice(2);
  wire.write(`From: <${from}>\r\nTo: <${rcpts.join('>, <')}>\r\nSubject: ${subject}\r\nMessage-ID: <${mid}@test>\r\n\r\nbody of ${subject}\r\n`);
  const data = await wire.command('.', 10_000);
  assert.equal(data.code, 250, data.lines.join('|'));
  return /queued as (\S+)/.exec(data.lines.join(' '))?.[1] ?? '';
}

const lists = (gw: RunningGateway): UserListsData => {
  const r = readUserLists(userListsPath(gw.dataDir));
  assert.ok(r.ok);
  return r.data;
};
const inbox = (gw: RunningGateway, user: string): string[] => maildirMessages(gw.dataDir, '', user);
const held = async (gw: RunningGateway, id: string): Promise<string[]> => (await readQuarantined(path.join(gw.dataDir, 'quarantine', `${id}.msg`)).catch(() => undefined))?.envelope.rcptTo ?? [];

test('digest list links: allow and block a sender from the digest, see and shorten the lists, tokens bound to action and user', async (t) => {
  const password = await hashPassword('user-password', { N: 1024, r: 8, p: 1 });
  const configDir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-qdigest-lists-'));
  t.after(() => rmSync(configDir, { recursive: true, force: true }));
  const configFile = path.join(configDir, 'spamgate.yaml');
  const gw = await startGateway(
    t,
    {
      users: { [ALICE]: { password }, [BOB]: { password } },
      mailhost: { watch_files: false },
      queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
      quarantine: { digest: { enabled: true, base_url: 'https://gw.example.com:9465' } },
      rules_dirs: [SHIPPED_RULES_DIR, quarantineRules(t)],
      bayes: { enabled: false },
      smtp: { xclient_from: ['127.0.0.1/32'], trusted_networks: [] },
      checks: { disabled: DISABLED, timeout: '1500ms' },
      // 1 s, under checks.timeout: a loaded machine can take over 300 ms to read the test server's answer
      dns: { timeout: '1s', retries: 0 },
    },
    { zones: { 'partner.example': [{ TXT: `v=spf1 ip4:${PARTNER_IP} ~all` }] }, configFile },
  );
  // bob lists something of his own: alice's page must never show it
  writeUserLists(userListsPath(gw.dataDir), { [BOB]: { allow: ['bob-friend@else.example'], block: [] } });

  const partnerId = await send(await xclientSession(t, gw.smtpPort, PARTNER_IP), 'News@Partner.example', [ALICE], 'QUARANTINE-ME partner news');
  const spamId = await send(await xclientSession(t, gw.smtpPort, '192.0.2.99'), 'seller@spam.example', [ALICE, BOB], 'QUARANTINE-ME cheap');
  const nullId = await send(await xclientSession(t, gw.smtpPort, '192.0.2.99'), '', [ALICE], 'QUARANTINE-ME bounce');
  for (const id of [partnerId, spamId, nullId]) assert.ok((await held(gw, id)).length > 0, `${id} quarantined`);

  const ran = await runCli(['quarantine', 'digest', '--now', '--config', configFile, '--data-dir', gw.dataDir], { timeoutMs: 60_000 });
  assert.equal(ran.code, 0, ran.stderr);
  await until('a digest for alice and bob', () => inbox(gw, 'alice').length === 1 && inbox(gw, 'bob').length === 1);
  const digest = await PostalMime.parse(inbox(gw, 'alice')[0] ?? '');
  const text = digest.text ?? '';
  const linksOf = (action: string): string[] => [...text.matchAll(new RegExp(`https://gw\\.example\\.com:9465/quarantine/${action}\\?t=([A-Za-z0-9_.-]+)`, 'g'))].map((m) => m[1] ?? '');
  // newest first: the null sender's (no list links: nothing to list), the spam, the partner's
  assert.equal(linksOf('release').length, 3);
  const [allowSpam, allowPartner, ...noMore] = linksOf('allow');
  const [blockSpam, blockPartner] = linksOf('block');
  assert.ok(allowSpam && allowPartner && blockSpam && blockPartner && noMore.length === 0, text);
  assert.match(text, /Release and always allow this sender: https:/);
  assert.match(text, /Delete and block this sender: https:/);
  const [listsToken, ...otherLists] = linksOf('lists');
  assert.ok(listsToken && otherLists.length === 0, 'one lists link');
  assert.match(digest.html ?? '', /Manage my sender lists<\/a>/);
  assert.match(digest.html ?? '', /Release and always allow this sender<\/a>/);
  const bobText = (await PostalMime.parse(inbox(gw, 'bob')[0] ?? '')).text ?? '';
  const bobLists = /quarantine\/lists\?t=([A-Za-z0-9_.-]+)/.exec(bobText)?.[1] ?? '';
  assert.ok(bobLists, 'bob has his own lists link');

  const base = `http://127.0.0.1:${gw.httpPort ?? 0}/quarantine`;
  const post = (action: string, fields: Record<string, string>): Promise<Response> => fetch(`${base}/${action}`, { method: 'POST', body: new URLSearchParams(fields) });

  // a GET shows the form and changes nothing
  const shown = await fetch(`${base}/allow?t=${allowPartner}`);
  assert.equal(shown.status, 200);
  assert.equal(shown.headers.get('cache-control'), 'no-store');
  assert.equal(shown.headers.get('x-frame-options'), 'DENY');
  const form = await shown.text();
  assert.match(form, /<form method="post" action="allow">/);
  assert.match(form, /news@partner\.example on your allow list/);
  assert.deepEqual(lists(gw)[ALICE], undefined, 'a GET listed nothing');
  assert.deepEqual(await held(gw, partnerId), [ALICE], 'a GET released nothing');

  // a token for another action or route is refused, and changes nothing
  const releasePartner = linksOf('release')[2] ?? '';
  assert.equal((await post('block', { t: releasePartner })).status, 403, 'a release token is no block token');
  assert.equal((await post('allow', { t: blockPartner })).status, 403, 'a block token is no allow token');
  assert.equal((await post('release', { t: allowPartner })).status, 403, 'an allow token is no release token');
  assert.equal((await post('lists', { t: allowPartner, entry: 'x@y.example' })).status, 403);
  assert.equal((await post('allow', { t: listsToken })).status, 403, 'a lists token is no allow token');
  assert.deepEqual(await held(gw, partnerId), [ALICE]);
  assert.deepEqual(lists(gw)[ALICE], undefined);

  // allow: released to alice and the envelope sender listed (in its normal form)
  const allowed = await post('allow', { t: allowPartner });
  assert.equal(allowed.status, 200);
  assert.match(await allowed.text(), /Sender allowed/);
  await until('the partner message in alice\'s INBOX', () => inbox(gw, 'alice').some((m) => /^Subject: QUARANTINE-ME partner news$/m.test(m)));
  assert.deepEqual(lists(gw)[ALICE], { allow: ['news@partner.example'], block: [] });
  assert.deepEqual(await held(gw, partnerId), []);
  // the next message from that sender, SPF-authenticated: USER_ALLOW takes it past the quarantine to her INBOX
  const before = inbox(gw, 'alice').length;
  await send(await xclientSession(t, gw.smtpPort, PARTNER_IP), 'news@partner.example', [ALICE], 'QUARANTINE-ME partner again');
  await until('the next partner message in alice\'s INBOX', () => inbox(gw, 'alice').length === before + 1);
  assert.match(JSON.stringify(gw.transactions().at(-1)), /USER_ALLOW\b(?!_)/);

  // block: alice's copy deleted (bob's stays held) and the sender on her block list
  const blocked = await post('block', { t: blockSpam });
  assert.equal(blocked.status, 200);
  assert.match(await blocked.text(), /Sender blocked/);
  assert.deepEqual(await held(gw, spamId), [BOB]);
  assert.deepEqual(lists(gw)[ALICE], { allow: ['news@partner.example'], block: ['seller@spam.example'] });
  assert.equal((await post('allow', { t: allowSpam })).status, 410, 'no longer held: nothing to list');
  assert.deepEqual(lists(gw)[ALICE]?.block, ['seller@spam.example']);

  // the lists page: alice's entries alone, one remove form each
  const page = await fetch(`${base}/lists?t=${listsToken}`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  const html = await page.text();
  assert.match(html, /news@partner\.example/);
  assert.match(html, /seller@spam\.example/);
  assert.doesNotMatch(html, /bob-friend/);
  assert.equal([...html.matchAll(/<form method="post" action="lists">/g)].length, 2);
  // bob's lists token shows bob's lists, never alice's
  const bobPage = await (await fetch(`${base}/lists?t=${bobLists}`)).text();
  assert.match(bobPage, /bob-friend@else\.example/);
  assert.doesNotMatch(bobPage, /partner\.example/);
  // remove one entry; a bad entry is a 400; an entry not listed changes nothing
  const removed = await post('lists', { t: listsToken, entry: 'news@partner.example' });
  assert.equal(removed.status, 200);
  assert.match(await removed.text(), /news@partner\.example was removed from your lists/);
  assert.deepEqual(lists(gw)[ALICE], { allow: [], block: ['seller@spam.example'] });
  assert.equal((await post('lists', { t: listsToken, entry: '<script>' })).status, 400);
  const absent = await post('lists', { t: listsToken, entry: 'bob-friend@else.example' });
  assert.equal(absent.status, 200);
  assert.match(await absent.text(), /was not on your lists/);
  assert.deepEqual(lists(gw)[BOB], { allow: ['bob-friend@else.example'], block: [] }, 'alice\'s token cannot touch bob\'s lists');

  // expired (signed with the real secret, expiry past): 410, nothing done
  const secret = Buffer.from(readFileSync(path.join(gw.dataDir, LINK_SECRET_FILE), 'utf8').trim(), 'utf8');
  const sign = (action: TokenAction, id: string, recipient: string, expires: number): string => createLinkTokens(secret).sign({ action, id, recipient, expires });
  assert.equal((await post('lists', { t: sign('lists', '', ALICE, Date.now() - 1000), entry: 'seller@spam.example' })).status, 410);
  assert.equal((await post('block', { t: sign('block', nullId, ALICE, Date.now() - 1000) })).status, 410);
  assert.deepEqual(lists(gw)[ALICE]?.block, ['seller@spam.example']);

  // a full list: 409, the message stays held and the lists are as they were
  const full = Array.from({ length: 199 }, (_, i) => `s${i}@full.example`);
  writeUserLists(userListsPath(gw.dataDir), { ...lists(gw), [ALICE]: { allow: full, block: ['seller@spam.example'] } });
  const partner3 = await send(await xclientSession(t, gw.smtpPort, '192.0.2.99'), 'fan@mail.example', [ALICE], 'QUARANTINE-ME fan mail');
  const refused = await post('allow', { t: sign('allow', partner3, ALICE, Date.now() + 60_000) });
  assert.equal(refused.status, 409);
  assert.match(await refused.text(), /Sender lists full/);
  assert.deepEqual(await held(gw, partner3), [ALICE]);
  assert.equal(lists(gw)[ALICE]?.allow.length, 199);

  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort ?? 0}/metrics`)).text();
  assert.match(metrics, /spamgate_quarantine_link_actions_total\{action="allow",result="ok"\} 1\n/);
  assert.match(metrics, /spamgate_quarantine_link_actions_total\{action="block",result="ok"\} 1\n/);
  assert.match(metrics, /spamgate_quarantine_link_actions_total\{action="unlist",result="ok"\} 1\n/);
  assert.match(metrics, /spamgate_quarantine_link_actions_total\{action="allow",result="list_full"\} 1\n/);
});
