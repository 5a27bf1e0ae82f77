// Allow and deny lists end to end: a running front-of gateway (inline delivery to a sink) with a rules directory
// of lists and list files, a loopback dns2 server with SPF and DKIM records, and clients presented by XCLIENT from
// loopback (loopback itself is trusted and not checked). Denied networks and senders are refused at MAIL, a closed
// recipient at its RCPT; an allowlisted sender outweighs a content rule only when SPF (or DKIM) authenticates it;
// list files edited under the running gateway reload, a broken edit keeps the old list; `spamgate explain` shows
// the entry that matched.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { stringify as stringifyYaml } from 'yaml';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { awaitLog } from '../helpers/await-log.ts';
import { runCli } from '../helpers/cli-process.ts';
import type { Zones } from '../helpers/dns-server.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { SmtpWire, type Reply } from '../helpers/smtp-wire.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { xclientSession } from '../helpers/xclient.ts';

const PARTNER_IP = '192.0.2.10';
const FORGER_IP = '192.0.2.66';
const DENIED_IP = '203.0.113.9';
const RCPT = 'postmaster@localhost';

const RULES = `lists:
  LIST_TEST_NET:
    type: ip
    weight: reject
    reply: "554 5.7.1 Mail from your network is refused ({options})"
    description: a network we take no mail from
    entries: [203.0.113.0/24, "2001:db8:bad::/48"]
  LIST_TEST_SENDER:
    type: envelope_from
    weight: reject
    reply: "550 5.7.1 Sender refused"
    description: senders we take no mail from
    file: lists/senders.txt
  LIST_TEST_PARTNER:
    type: envelope_from
    authenticated: spf
    weight: -30
    description: our partners, authenticated by SPF
    file: lists/partners.txt
  LIST_TEST_SIGNED:
    type: from
    authenticated: dkim
    weight: -30
    description: a From domain that signs its mail
    entries: [signer.example]
  LIST_TEST_CLOSED:
    type: rcpt
    weight: reject
    reply: "550 5.1.1 This mailbox is closed"
    description: closed mailboxes
    entries: [closed@localhost]
  LIST_TEST_BOSS:
    type: from
    weight: 4
    description: a From address we are wary of
    file: lists/from.txt
content_rules:
  - { symbol: CT_TEST_SPAMMY, description: a marker the content rules reject, weight: 20, type: body, regex: 'SPAMMY-MARKER' }
`;

interface Setup {
  gw: RunningGateway;
  sink: SinkServer;
  rules: string;
  dkimKey: string;
}

async function start(t: TestContext): Promise<Setup> {
  const rules = tempDir(t, 'spamgate-lists-rules-');
  mkdirSync(path.join(rules, 'lists'));
  writeFileSync(path.join(rules, 'lists.yaml'), RULES);
  writeFileSync(path.join(rules, 'lists', 'senders.txt'), '# refused senders\nspam@bulk.example\n');
  writeFileSync(path.join(rules, 'lists', 'partners.txt'), '# partners\npartner.example\nnospf.example\n');
  writeFileSync(path.join(rules, 'lists', 'from.txt'), '# watched\nboss@corp.example\n');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const record = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
  const zones: Zones = {
    'partner.example': [{ TXT: `v=spf1 ip4:${PARTNER_IP} ~all` }],
    'sel1._domainkey.signer.example': [{ TXT: record }],
  };
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(
    t,
    {
      mode: 'front-of',
      delivery: { mode: 'inline', upstream: { host: sink.host, port: sink.port } },
      rules_dirs: [SHIPPED_RULES_DIR, rules],
      bayes: { enabled: false },
      smtp: { xclient_from: ['127.0.0.1/32'], trusted_networks: [] },
      checks: { timeout: '1500ms' },
      // 1 s, under checks.timeout: a loaded machine can take over 300 ms to read the test server's answer
      dns: { timeout: '1s', retries: 0 },
    },
    { zones },
  );
  return { gw, sink, rules, dkimKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A session handed to `addr` by XCLIENT (Postfix style: EHLO, XCLIENT, 220, EHLO again). */
const client = (t: TestContext, gw: RunningGateway, addr: string): Promise<SmtpWire> => xclientSession(t, gw.smtpPort, addr);

interface Outcome {
  mail: Reply;
  rcpt?: Reply[];
  data?: Reply;
}

/** One transaction; stops at the first refusal (MAIL, every RCPT refused, or DATA). */
async function transaction(wire: SmtpWire, from: string, body: string, rcpts = [RCPT]): Promise<Outcome> {
  const mail = await wire.command(`MAIL FROM:<${from}>`);
  if (mail.code !== 250) return { mail };
  const rcpt: Reply[] = [];
  for (const r of rcpts) rcpt.push(await wire.command(`RCPT TO:<${r}>`));
  if (!rcpt.some((r) => r.code === 250)) {
    await wire.command('RSET');
    return { mail, rcpt };
  }
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(body.endsWith('\r\n') ? body : `${body}\r\n`);
  return { mail, rcpt, data: await wire.command('.', 10_000) };
}

function message(from: string, body: string, subject = 'lists'): string {
  return `From: ${from}\r\nTo: <${RCPT}>\r\nSubject: ${subject}\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@test>\r\n\r\n${body}\r\n`;
}

/** The X-Spamgate-Result of the sink's last message. */
function lastResult(sink: SinkServer): string {
  const raw = sink.messages.at(-1)?.raw.toString('latin1') ?? '';
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  return /^X-Spamgate-Result: (.*)$/im.exec(head)?.[1] ?? '';
}

test('a denied network is refused before MAIL is taken; another client is not', async (t) => {
  const { gw, sink } = await start(t);
  const denied = await client(t, gw, DENIED_IP);
  const out = await transaction(denied, 'someone@partner.example', message('<someone@partner.example>', 'hello'));
  assert.equal(out.mail.code, 554, JSON.stringify(out));
  assert.match(out.mail.text, /Mail from your network is refused \(203\.0\.113\.0\/24\)/);
  const v6 = await client(t, gw, '2001:db8:bad:1::25');
  assert.equal((await transaction(v6, 'x@elsewhere.example', message('<x@elsewhere.example>', 'hello'))).mail.code, 554);
  const other = await client(t, gw, PARTNER_IP);
  const ok = await transaction(other, 'x@elsewhere.example', message('<x@elsewhere.example>', 'hello'));
  assert.equal(ok.data?.code, 250, JSON.stringify(ok));
  assert.equal(sink.messages.length, 1);
});

test('a denied envelope sender is refused at MAIL, with the list file line in the log', async (t) => {
  const { gw, sink } = await start(t);
  const wire = await client(t, gw, PARTNER_IP);
  const out = await transaction(wire, 'SPAM@bulk.example', message('<spam@bulk.example>', 'hello'));
  assert.equal(out.mail.code, 550, JSON.stringify(out));
  assert.equal(out.mail.text, '5.7.1 Sender refused');
  // the same mailbox with a quoted local part (RFC 5321 §4.1.2)
  assert.equal((await wire.command('MAIL FROM:<"spam"@bulk.example>')).code, 550);
  const ok = await transaction(wire, 'ham@bulk.example', message('<ham@bulk.example>', 'hello'));
  assert.equal(ok.data?.code, 250, 'another address of the same domain is not listed');
  assert.equal(sink.messages.length, 1);
});

test('an allowlisted sender outweighs the content rules only when SPF passes; forged or unauthenticated it is rejected', async (t) => {
  const { gw, sink } = await start(t);
  // from the partner's own address: SPF pass, -30 beats the content rule's 20
  const partner = await client(t, gw, PARTNER_IP);
  const passed = await transaction(partner, 'news@partner.example', message('<news@partner.example>', 'SPAMMY-MARKER but from a partner'));
  assert.equal(passed.data?.code, 250, JSON.stringify(passed));
  const result = lastResult(sink);
  assert.match(result, /LIST_TEST_PARTNER\(-30\)\[partner\.example,lists\/partners\.txt:2,spf\]/, result);
  assert.match(result, /CT_TEST_SPAMMY\(20\)/);
  // the same sender from elsewhere: SPF softfail, the list gives nothing
  const forger = await client(t, gw, FORGER_IP);
  const forged = await transaction(forger, 'news@partner.example', message('<news@partner.example>', 'SPAMMY-MARKER forged'));
  assert.equal(forged.data?.code, 554, JSON.stringify(forged));
  const log = gw.transactions().at(-1);
  assert.doesNotMatch(JSON.stringify(log?.symbols), /LIST_TEST_PARTNER/);
  assert.match(JSON.stringify(log?.symbols), /SPF_SOFTFAIL/);
  // a listed domain that publishes no SPF cannot be authenticated by it either
  const none = await transaction(forger, 'a@nospf.example', message('<a@nospf.example>', 'SPAMMY-MARKER no spf'));
  assert.equal(none.data?.code, 554, JSON.stringify(none));
  // and allowlisting never opens the relay
  const relay = await transaction(partner, 'news@partner.example', message('<news@partner.example>', 'relay?'), ['someone@far-away.example']);
  assert.equal(relay.rcpt?.[0]?.code, 554, JSON.stringify(relay));
  assert.match(relay.rcpt?.[0]?.text ?? '', /Relay access denied/);
  assert.equal(sink.messages.length, 1);
});

test('a from list authenticated by DKIM: a signed From outweighs the content rules, an unsigned one does not', async (t) => {
  const { gw, sink, dkimKey } = await start(t);
  const wire = await client(t, gw, FORGER_IP);
  const plain = message('Signer <ceo@signer.example>', 'SPAMMY-MARKER signed');
  const key = { signingDomain: 'signer.example', selector: 'sel1', privateKey: dkimKey };
  const signed = await dkimSign(plain, { ...key, canonicalization: 'relaxed/relaxed', signatureData: [key] });
  assert.deepEqual(signed.errors, []);
  const ok = await transaction(wire, 'bounce@elsewhere.example', signed.signatures + plain);
  assert.equal(ok.data?.code, 250, JSON.stringify(ok));
  assert.match(lastResult(sink), /LIST_TEST_SIGNED\(-30\)\[signer\.example,dkim\]/);
  const forged = await transaction(wire, 'bounce@elsewhere.example', message('Signer <ceo@signer.example>', 'SPAMMY-MARKER unsigned'));
  assert.equal(forged.data?.code, 554, JSON.stringify(forged));
  // a signature covering only the start of the body (l=), the rest appended by anyone: DKIM passes, the list does not
  const innocent = message('Signer <ceo@signer.example>', 'hello');
  const short = { ...key, maxBodyLength: 7 };
  const partial = await dkimSign(innocent, { ...short, canonicalization: 'relaxed/relaxed', signatureData: [short] } as Parameters<typeof dkimSign>[1]);
  assert.deepEqual(partial.errors, []);
  const appended = await transaction(wire, 'bounce@elsewhere.example', `${partial.signatures}${innocent}SPAMMY-MARKER appended\r\n`);
  assert.equal(appended.data?.code, 554, JSON.stringify(appended));
  assert.match(JSON.stringify(gw.transactions().at(-1)?.symbols), /DKIM_PASS/);
  assert.equal(sink.messages.length, 1);
});

test('a rcpt list refuses the listed recipient at its RCPT; the others of the transaction get the message', async (t) => {
  const { gw, sink } = await start(t);
  const wire = await client(t, gw, PARTNER_IP);
  const out = await transaction(wire, 'news@partner.example', message('<news@partner.example>', 'hello'), ['Closed@localhost', RCPT]);
  assert.equal(out.rcpt?.[0]?.code, 550);
  assert.equal(out.rcpt?.[0]?.text, '5.1.1 This mailbox is closed');
  assert.equal(out.rcpt?.[1]?.code, 250);
  assert.equal(out.data?.code, 250);
  assert.deepEqual(sink.messages.map((m) => m.rcptTo), [[RCPT]]);
  // a sub-address of the closed mailbox (delivered to it) is the closed mailbox too
  const tagged = await transaction(wire, 'news@partner.example', message('<news@partner.example>', 'hello'), ['closed+tag@localhost', RCPT]);
  assert.equal(tagged.rcpt?.[0]?.code, 550, JSON.stringify(tagged));
});

test('a list file edited under the running gateway takes effect in the open session; a broken edit keeps the old list', async (t) => {
  const { gw, rules } = await start(t);
  const senders = path.join(rules, 'lists', 'senders.txt');
  const wire = await client(t, gw, PARTNER_IP);
  assert.equal((await wire.command('MAIL FROM:<later@bulk.example>')).code, 250);
  assert.equal((await wire.command('RSET')).code, 250);

  let mark = gw.logs.length;
  writeFileSync(senders, '# refused senders\nspam@bulk.example\nlater@bulk.example\n');
  await awaitLog(gw, mark, (l) => l.msg === 'configuration reloaded', 'reload after the list file changed');
  const refused = await wire.command('MAIL FROM:<later@bulk.example>');
  assert.equal(refused.code, 550, 'the same session, under the new list');

  mark = gw.logs.length;
  writeFileSync(senders, '# refused senders\nspam@bulk.example\nlater@bulk.example\nthird@bulk.example\nnot an address\n');
  const failed = await awaitLog(gw, mark, (l) => l.msg === 'reload failed, keeping the running configuration', 'the broken edit refused');
  assert.match(String(failed.error), new RegExp(`${senders.replaceAll('.', '\\.')}:5: expected user@domain, domain or \\.domain, found "not an address"`));
  assert.equal((await wire.command('MAIL FROM:<later@bulk.example>')).code, 550, 'the old list is in force');
  assert.equal((await wire.command('MAIL FROM:<third@bulk.example>')).code, 250, 'and nothing of the broken edit');
  assert.equal((await wire.command('QUIT')).code, 221);
});

test('a transaction under way keeps the lists it started with when a list file changes; the next one has the new', async (t) => {
  const { gw, rules } = await start(t);
  const wire = await client(t, gw, PARTNER_IP);
  assert.equal((await wire.command('MAIL FROM:<news@partner.example>')).code, 250);
  const mark = gw.logs.length;
  // the rcpt list now closes the recipient this transaction is about to name
  writeFileSync(path.join(rules, 'lists.yaml'), RULES.replace('entries: [closed@localhost]', `entries: [closed@localhost, ${RCPT}]`));
  await awaitLog(gw, mark, (l) => l.msg === 'configuration reloaded', 'reload after the rules changed');
  assert.equal((await wire.command(`RCPT TO:<${RCPT}>`)).code, 250, 'this transaction: the lists it started with');
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<news@partner.example>')).code, 250);
  assert.equal((await wire.command(`RCPT TO:<${RCPT}>`)).code, 550, 'the next one: the new lists');
});

test('spamgate explain shows a from list symbol with the entry and its list file line', async (t) => {
  const dir = tempDir(t, 'spamgate-lists-explain-');
  const rules = path.join(dir, 'rules');
  mkdirSync(path.join(rules, 'lists'), { recursive: true });
  writeFileSync(path.join(rules, 'lists.yaml'), RULES);
  writeFileSync(path.join(rules, 'lists', 'senders.txt'), 'spam@bulk.example\n');
  writeFileSync(path.join(rules, 'lists', 'partners.txt'), 'partner.example\n');
  writeFileSync(path.join(rules, 'lists', 'from.txt'), '# watched\nboss@corp.example\n');
  const config = path.join(dir, 'spamgate.yaml');
  writeFileSync(config, stringifyYaml({ rules_dirs: [SHIPPED_RULES_DIR, rules], bayes: { enabled: false } }));
  const file = path.join(dir, 'boss.eml');
  writeFileSync(file, message('The Boss <Boss@Corp.example>', 'hello'));
  const run = await runCli(['explain', file, '--config', config, '--data-dir', path.join(dir, 'data'), '--no-bayes']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /4\.00 {2}LIST_TEST_BOSS \(weight 4\) \[boss@corp\.example, lists\/from\.txt:2\]/, run.stdout);
  assert.match(run.stdout, /a From address we are wary of/);
});
