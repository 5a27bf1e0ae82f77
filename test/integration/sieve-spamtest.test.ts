// spamtest and virustest (RFC 5235) end to end over real SMTP into the full-stack gateway: a message scoring 5
// (below junk) reaches the script's "Spammy" folder through `spamtest :value "ge" "5"`, a clean one INBOX, a forged
// X-Spamgate-Result from outside changes nothing (the value comes with the delivery, not from a header); with a
// message sent by an authenticated user (most checks skipped) is "0", not tested; with a
// real clamd and VIRUS_FOUND redefined to be delivered, virustest is 5 for the signed test virus and 1 for a clean
// message.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { messageDone } from '../helpers/await-log.ts';
import { startClamd, TEST_BODY_MARKER } from '../helpers/clamd.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { ALICE, startSieveMailhost, type SieveMailhost } from '../helpers/sieve-mailhost.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

interface Setup extends SieveMailhost {
  send: (subject: string, body: string, extraHead?: string) => Promise<void>;
  subjects: (folder?: string) => string[];
}

async function setup(t: TestContext, script: string, config: Record<string, unknown> = {}, rules?: string): Promise<Setup> {
  const m = await startSieveMailhost(t, 'spamgate-spamtest-', config, undefined, rules);
  const file = path.join(m.dir, 'filter.sieve');
  writeFileSync(file, script);
  const r = await m.users(['sieve', ALICE, 'set', file]);
  assert.equal(r.code, 0, r.err);
  let seq = 0;
  return {
    ...m,
    send: async (subject, body, extraHead = '') => {
      const before = m.gw.logs.length;
      const msg = `From: <bob@remote.example>\r\nTo: ${ALICE}\r\nSubject: ${subject}\r\n${extraHead}Message-ID: <${++seq}.${Date.now()}@remote.example>\r\n\r\n${body}\r\n`;
      const sent = await sendMessage(m.gw.smtpPort, 'bob@remote.example', [ALICE], msg);
      assert.equal(sent.data?.code, 250, JSON.stringify(sent.replies));
      await messageDone(m.gw, before, /queued as (\S+)/.exec(sent.data?.text ?? '')?.[1] ?? '?');
    },
    subjects: (folder = '') =>
      maildirMessages(m.gw.dataDir, folder, 'alice', 'corp.example')
        .map((x) => /^Subject: (.*)$/m.exec(x)?.[1]?.trim() ?? '')
        .sort(),
  };
}

const SPAMTEST = 'require ["spamtest", "fileinto", "relational", "comparator-i;ascii-numeric"];\nif spamtest :value "ge" :comparator "i;ascii-numeric" "5" { fileinto "Spammy"; }\nelsif spamtest "0" { fileinto "Untested"; }\n';

test('spamtest: a message scoring in the band lands in Spammy, a clean one in INBOX; a forged X-Spamgate-Result does not change the value', async (t) => {
  const s = await setup(t, SPAMTEST);
  // CT_TEST_MID is worth 5: spamtest 1 + ⌊5 × 5 / 6⌋ = 5 (junk at 6 is 6); rewrite_subject, not junk: INBOX without the script
  await s.send('mid score', 'MID-MARKER');
  await s.send('clean', 'hello alice');
  await s.send('forged verdict', 'hello alice', 'X-Spamgate-Result: junk; score=99.00\r\nX-Spam-Score: 10\r\n');
  await s.send('junk score', 'JUNK-MARKER');
  assert.deepEqual(s.subjects('.Spammy'), ['***SPAM*** junk score', '***SPAM*** mid score'], 'rewrite_subject at 5 tags the subject');
  assert.deepEqual(s.subjects(), ['clean', 'forged verdict']);
  assert.deepEqual(s.subjects('.Untested'), [], 'every message from outside was judged');
  assert.deepEqual(s.subjects('.Junk'), [], 'the explicit fileinto wins over the Junk routing');
  const forged = maildirMessages(s.gw.dataDir, '', 'alice', 'corp.example').find((x) => x.includes('Subject: forged verdict')) ?? '';
  assert.doesNotMatch(forged, /score=99/, 'the forged header was stripped by the gateway');

  // submission with AUTH: the checks that make a score are skipped for it, so spamtest is "0" (RFC 5235 §3.2.1)
  const port = s.gw.submissionPort;
  assert.ok(port);
  const { wire } = await SmtpWire.open(port);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command(`AUTH PLAIN ${Buffer.from(`\0${ALICE}\0alice-password`).toString('base64')}`)).code, 235);
  assert.equal((await wire.command(`MAIL FROM:<${ALICE}>`)).code, 250);
  assert.equal((await wire.command(`RCPT TO:<${ALICE}>`)).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  const before = s.gw.logs.length;
  wire.write(`From: <${ALICE}>\r\nTo: ${ALICE}\r\nSubject: note to self\r\nMessage-ID: <self.${Date.now()}@corp.example>\r\n\r\nMID-MARKER\r\n`);
  const done = await wire.command('.', 15_000);
  assert.equal(done.code, 250, done.text);
  await messageDone(s.gw, before, /queued as (\S+)/.exec(done.text)?.[1] ?? '?');
  // the content rules still run for a submission (the subject is tagged), but without the inbound checks the score
  // is no spam test: "0", and not the 5 an outside sender's copy gets
  assert.deepEqual(s.subjects('.Untested'), ['***SPAM*** note to self']);
});

test('virustest with a real clamd: 5 for the test signature (VIRUS_FOUND redefined to be delivered), 1 for a clean message', async (t) => {
  const clamd = await startClamd(t);
  const rules = 'symbols:\n  VIRUS_FOUND: { weight: 1, description: test - a virus is delivered for the Sieve script to file }\n';
  const script = 'require ["virustest", "fileinto", "relational", "comparator-i;ascii-numeric"];\nif virustest :value "ge" :comparator "i;ascii-numeric" "4" { fileinto "Virus"; }\nelsif virustest "1" { fileinto "Scanned"; }\n';
  const s = await setup(t, script, { antivirus: { enabled: true, clamd: clamd.unix } }, rules);
  await s.send('infected', `look: ${TEST_BODY_MARKER}`);
  await s.send('clean', 'hello alice');
  assert.deepEqual(s.subjects('.Virus'), ['infected']);
  assert.deepEqual(s.subjects('.Scanned'), ['clean']);
  assert.deepEqual(s.subjects(), []);
});
