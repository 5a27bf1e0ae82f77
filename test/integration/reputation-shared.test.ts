// Sender reputation shared and reported: with redis.use_for: [reputation] (a real redis-server) what one
// gateway learned marks the network's next message at the other; in full-stack mode a message moved into
// the Junk folder over IMAP (python3 imaplib) pushes its sender's network to spam at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway, TEST_PASSWORD } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { imapMoveFirst, runPython } from '../helpers/python.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { RedisReputationStore } from '../../src/redis/reputation-store.ts';
import { systemClock } from '../../src/util/clock.ts';
import { linkTo, startRedis } from '../unit/redis/redis-server.ts';
import { learned, metrics, send, SPAM_IP, startRepGateway } from './reputation-harness.ts';

test('redis.use_for: [reputation]: what gateway A learned marks the next message at gateway B', async (t) => {
  const redis = await startRedis(t);
  const shared = { redis: { port: redis.port, timeout: '500ms', connect_timeout: '2s', use_for: ['reputation'] } };
  const a = await startRepGateway(t, shared);
  const b = await startRepGateway(t, shared, {}, a.sink);
  for (let i = 0; i < 3; i++) await send(t, a, SPAM_IP, 'x@spam.example', 'REP-SPAM-MARKER');
  await learned(a.gw, 3);
  const r = await send(t, b, '198.51.100.200', 'y@elsewhere.example', 'hello');
  assert.match(r.result, /REPUTATION_IP_BAD\([\d.]+\)\[198\.51\.100\.0\/24,avg=12\.50,n=3\.0\]/);
  // the record is one hash in Redis with a TTL
  const link = await linkTo(t, redis, { key_prefix: 'spamgate:' });
  const keys = await link.run('bench', (c) => c.keys('*{rep}*'));
  const ids = keys.filter((k) => !k.endsWith('{rep}:all')).map((k) => k.replace(/^.*\{rep\}:/, ''));
  assert.deepEqual(ids, ['ip:198.51.100.0/24']);
  assert.ok((await link.run('bench', (c) => c.pttl(keys.find((k) => k.endsWith('/24')) ?? ''))) > 0);
  assert.equal(await new RedisReputationStore(link, systemClock, DAY).size(), 1);
  // and after B learned too, A sees four
  await learned(b.gw, 1);
  const again = await send(t, a, '198.51.100.201', 'y@elsewhere.example', 'hello');
  assert.match(again.result, /REPUTATION_IP_BAD\([\d.]+\)\[198\.51\.100\.0\/24,avg=[\d.]+,n=4\.0\]/);
  // a reset (spamgate reputation reset) forgets it for both
  await learned(a.gw, 4);
  assert.equal(await new RedisReputationStore(link, systemClock, DAY).reset('ip:198.51.100.0/24'), true);
  assert.doesNotMatch((await send(t, b, '198.51.100.202', 'y@elsewhere.example', 'hello')).result, /REPUTATION/);
});

const DAY = 86_400_000;

async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a message moved into Junk over IMAP pushes its network to spam: the next message from it hits REPUTATION_IP_BAD', async (t) => {
  // 127.0.0.1 is not trusted here: its network 127.0.0.0/24 is the key
  const gw = await startGateway(t, { bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: ['fcrdns', 'helo', 'spf', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'] } });
  const mail = (subject: string): string => `From: a@remote.example\r\nTo: postmaster@localhost\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/ /g, '')}@remote.example>\r\n\r\nhello\r\n`;
  const delivered = async (subject: string): Promise<string> => {
    assert.equal((await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost'], mail(subject))).data?.code, 250);
    let found: string | undefined;
    await waitFor(() => (found = [...maildirMessages(gw.dataDir, ''), ...maildirMessages(gw.dataDir, '.Junk')].find((m) => m.includes(`Subject: ${subject}`))) !== undefined, subject);
    return found ?? '';
  };
  const first = await delivered('first one');
  assert.match(first, /^X-Spamgate-Reputation: ip=127\.0\.0\.0\/24;\s+seal=[\w-]{12}\.[\w-]{24}\r?$/m);
  assert.doesNotMatch(first, /REPUTATION_IP/);
  assert.equal(await imapMoveFirst(gw.imapPort ?? 0, 'postmaster@localhost', TEST_PASSWORD, 'INBOX', 'Junk'), 'OK');
  await waitFor(async () => /spamgate_reputation_learned_total\{source="report_spam"\} 1\b/.test(await metrics(gw)), 'the Junk move reported');
  const next = await delivered('second one');
  // one message (score about 0) and one report worth five of a fully bad score: (0 + 50) / 6
  assert.match(next, /REPUTATION_IP_BAD\([\d.]+\)\[127\.0\.0\.0\/24,avg=8\.\d\d,n=6\.0\]/);
});

test('a user cannot report a sender spamgate never recorded: an X-Spamgate-Reputation of their own (IMAP APPEND into Junk) teaches nothing, nor do copies of a delivered one', async (t) => {
  const gw = await startGateway(t, { bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: ['fcrdns', 'helo', 'spf', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'] } });
  assert.equal((await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost'], 'From: a@remote.example\r\nTo: postmaster@localhost\r\nSubject: genuine\r\nMessage-ID: <genuine@remote.example>\r\n\r\nhello\r\n')).data?.code, 250);
  let genuine: string | undefined;
  await waitFor(() => (genuine = maildirMessages(gw.dataDir, '').find((m) => m.includes('Subject: genuine'))) !== undefined, 'delivery');
  const recorded = (/^X-Spamgate-Reputation: .*(?:\r?\n[ \t].*)*/m.exec(genuine ?? '')?.[0] ?? '').replace(/\r?\n[ \t]+/g, ' ');
  assert.notEqual(recorded, '');
  const out = await runPython<{ appended: string[] }>(
    `
import imaplib, json, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('postmaster@localhost', sys.argv[2])
res = []
for i, head in enumerate(['X-Spamgate-Reputation: ip=203.0.113.0/24; domain=victim.example', sys.argv[3].strip(), sys.argv[3].strip()]):
    msg = (head + '\\r\\nFrom: x@victim.example\\r\\nSubject: appended %d\\r\\n\\r\\nbody %d\\r\\n' % (i, i)).encode()
    typ, _ = m.append('Junk', None, None, msg)
    res.append(typ)
m.logout()
print(json.dumps({'appended': res}))
`,
    [String(gw.imapPort), TEST_PASSWORD, recorded],
  );
  assert.deepEqual(out.appended, ['OK', 'OK', 'OK']);
  // the two copies of the delivered message's header: one report; the forged one: none
  await waitFor(async () => /spamgate_reputation_learned_total\{source="report_spam"\} 1\b/.test(await metrics(gw)), 'the genuine copy reported');
  await new Promise((r) => setTimeout(r, 500));
  assert.match(await metrics(gw), /spamgate_reputation_learned_total\{source="report_spam"\} 1\b/);
});
