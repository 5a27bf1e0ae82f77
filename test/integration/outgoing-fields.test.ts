// spamgate's X-Spamgate-* fields on our own outgoing mail (submission with AUTH, trusted networks): the copies for
// other domains leave without them (the verdict, its score and the session id are this site's business), the
// local copies keep them for Sieve; and a field in that namespace that a message brings with it never reaches anyone.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { runPython } from '../helpers/python.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';

const ZONES = {
  'remote.example': [{ MX: [10, 'mx.remote.example'] as [number, string] }],
  'mx.remote.example': [{ A: '127.0.0.1' }],
};

/** Forged fields in spamgate's namespace, in odd spellings, one folded. */
const FORGED = 'X-Spamgate-Result: accept; score=-99.00; id=forged\r\nx-spamgate-verdict: ham\r\nX-SPAMGATE-Reputation:\r\n ip=1.2.3.0/24; seal=forged\r\n';

const SUBMIT = `
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.ehlo('laptop.test.example')
s.login('postmaster@localhost', sys.argv[2])
s.sendmail('postmaster@localhost', ['bob@remote.example', 'postmaster@localhost'], sys.argv[3])
s.quit()
print('0')
`;

async function localCopies(gw: RunningGateway, n: number): Promise<string[]> {
  const dir = path.join(gw.dataDir, 'mail', 'localhost', 'postmaster', 'Maildir', 'new');
  const deadline = Date.now() + 10_000;
  const files = (): string[] => (existsSync(dir) ? readdirSync(dir) : []);
  while (files().length < n && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  return files().map((f) => readFileSync(path.join(dir, f), 'latin1'));
}

function headOf(message: string): string {
  return message.slice(0, message.indexOf('\r\n\r\n') + 2);
}

test('submission: the copy for another domain has no X-Spamgate-* field, the local copy keeps the verdict, the log keeps everything', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, { outbound: { port: sink.port }, queue: { scan_interval: '100ms' } }, { zones: ZONES });
  const body = `${FORGED}From: postmaster@localhost\r\nSubject: lunch\r\nMessage-ID: <o1@localhost>\r\n\r\nLunch tomorrow?\r\n`;
  await runPython<number>(SUBMIT, [String(gw.submissionPort), TEST_PASSWORD, body]);
  await sink.waitForMessages(1, 20_000);
  const remote = headOf(sink.messages[0]?.raw.toString('latin1') ?? '');
  assert.deepEqual(sink.messages[0]?.rcptTo, ['bob@remote.example']);
  assert.doesNotMatch(remote, /^x-spamgate-/im, remote);
  assert.match(remote, /with ESMTPS?A id /, 'the Received trace field stays');
  assert.match(remote, /^Subject: lunch\r$/m);

  const [local] = await localCopies(gw, 1);
  const head = headOf(local ?? '');
  const session = String(gw.transactions().find((l) => l.listener === 'submission')?.session ?? '');
  assert.notEqual(session, '');
  // ours, once, with the session id; the forged ones are gone
  assert.equal(head.match(/^x-spamgate-result:/gim)?.length, 1, head);
  assert.match(head, new RegExp(`^X-Spamgate-Result: accept; score=[-0-9.]+; id=${session}`, 'm'));
  assert.doesNotMatch(head, /forged|x-spamgate-verdict|x-spamgate-reputation/i, head);
  // the transaction log line is untouched
  const tx = gw.transactions().find((l) => l.listener === 'submission');
  assert.equal(tx?.auth_user, 'postmaster@localhost');
  assert.equal(tx?.action, 'accept');
});

test('mail from outside keeps its verdict for the local mailbox, and a forged X-Spamgate-* field from the sender is removed', async (t) => {
  // no trusted network: the loopback client is the world
  const gw = await startGateway(t, { smtp: { trusted_networks: [] }, queue: { scan_interval: '100ms' } });
  const r = await sendMessage(gw.smtpPort, 'someone@elsewhere.example', ['postmaster@localhost'], `${FORGED}Subject: hi\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <i1@elsewhere.example>\r\n\r\nhello\r\n`);
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  const [local] = await localCopies(gw, 1);
  const head = headOf(local ?? '');
  assert.equal(head.match(/^x-spamgate-result:/gim)?.length, 1, `${head}\n${JSON.stringify(gw.transactions())}`);
  assert.doesNotMatch(head, /forged|x-spamgate-verdict|x-spamgate-reputation:\r\n ip=1\.2\.3/i, head);
});

test('front-of mode: trusted-network mail reaches the upstream without X-Spamgate-* for other domains, with it for ours; inbound keeps it', async (t) => {
  const upstream = await startSink();
  t.after(() => upstream.close());
  const gw = await startGateway(t, { mode: 'front-of', local_domains: ['example.org'], delivery: { upstream: { host: '127.0.0.1', port: upstream.port } }, queue: { scan_interval: '100ms' } });
  // 127.0.0.1 is in the default trusted_networks: our own mail
  const r = await sendMessage(gw.smtpPort, 'alice@example.org', ['bob@remote.example', 'carol@example.org'], 'From: alice@example.org\r\nSubject: mixed\r\n\r\nhi\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await upstream.waitForMessages(2, 20_000);
  const remote = upstream.messages.find((m) => m.rcptTo.includes('bob@remote.example'));
  const local = upstream.messages.find((m) => m.rcptTo.includes('carol@example.org'));
  assert.deepEqual(remote?.rcptTo, ['bob@remote.example']);
  assert.deepEqual(local?.rcptTo, ['carol@example.org']);
  assert.doesNotMatch(headOf(remote?.raw.toString('latin1') ?? ''), /^x-spamgate-/im);
  assert.match(headOf(local?.raw.toString('latin1') ?? ''), /^X-Spamgate-Result: accept; /m);
});
