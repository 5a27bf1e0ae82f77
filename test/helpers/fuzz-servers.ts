// Starts spamgate's protocol servers for the fuzz tests and bench as the integration tests do (127.0.0.1:0) and
// returns a ready fuzz target for each: IMAP logged in with INBOX selected holding plain and MIME messages,
// POP3 logged in with a few messages, ManageSieve authenticated, SMTP on the gateway and on submission (AUTH),
// the milter listener, and the spamd and rspamd HTTP listeners (one request per connection).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { createManageSieveServer } from '../../src/managesieve/server.ts';
import { createSieveStore } from '../../src/mailhost/sieve-store.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { sample, startImap } from '../integration/imap-harness.ts';
import { message, startPop3 } from '../integration/pop3-fixture.ts';
import type { FuzzTarget } from './fuzz-drive.ts';
import type { RequestTarget } from './fuzz-request.ts';
import { rspamdHttpTarget } from './fuzz-http.ts';
import { milterTarget } from './fuzz-milter.ts';
import { DNS_CHECKS, scanTestConfig, startMilterGateway } from './milter-gateway.ts';
import { imapTarget, pop3Target, sieveTarget, smtpTarget } from './fuzz-targets.ts';
import { startGateway, TEST_PASSWORD } from './gateway.ts';

/** What the servers need of a test context: somewhere to put their clean-up. */
export type After = Pick<TestContext, 'after'>;

export const CORPUS_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'fuzz');

const MIME = [
  'From: a@example.net\r\nTo: alice@example.org\r\nSubject: =?UTF-8?B?w7xiZXI=?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\npre\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9llo\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b2--\r\n--b1\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="a.bin"\r\n\r\nAAECAwQF\r\n--b1--\r\n',
  'From: b@example.net\r\nTo: alice@example.org\r\nSubject: 8bit \xc3\xa9\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 \x00 bytes\r\n.\r\n..dots\r\n',
];

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

export async function imapFuzzTarget(t: After): Promise<FuzzTarget> {
  const h = await startImap(t);
  const user = 'alice@example.org';
  await h.store.ensureUser(user);
  for (let i = 0; i < 3; i++) await h.store.append(user, 'INBOX', Buffer.from(sample(`m${i}`)));
  for (const m of MIME) await h.store.append(user, 'INBOX', latin1(m));
  for (const box of ['Archive', 'Trash', 'Keep']) await h.store.createMailbox(user, box).catch(() => undefined); // some exist already (special use)
  return imapTarget(h.port, `LOGIN ${user} wonderland`, { select: 'INBOX' });
}

export async function pop3FuzzTarget(t: TestContext): Promise<FuzzTarget> {
  const f = await startPop3(t, { limits: { maxConnectionsPerIp: 1000, authFailures: { perIp: { limit: 1_000_000, window: 1000 }, perUser: { limit: 1_000_000, window: 1000 } } } });
  for (let i = 0; i < 3; i++) await f.deliver('alice@example.com', message(`m${i}`, `body ${i}\r\n.line\r\n`));
  for (const m of MIME) await f.deliver('alice@example.com', latin1(m));
  return pop3Target(f.port, 'alice@example.com', 'secret-alice');
}

export async function sieveFuzzTarget(t: After): Promise<FuzzTarget> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sg-sieve-fuzz-'));
  const server = createManageSieveServer({
    store: createSieveStore(dir),
    authenticate: async (user, pass) => (user === 'alice@localhost' && pass === 'pw' ? user : undefined),
    registry: createRegistry(),
    log: silentLogger,
    clock: systemClock,
  });
  await server.listen(0, '127.0.0.1');
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  return sieveTarget(server.address()?.port ?? 0, Buffer.from('\0alice@localhost\0pw').toString('base64'));
}

/** The gateway (port 25 role) and submission with AUTH, one App. */
export async function smtpFuzzTargets(t: TestContext): Promise<{ gateway: FuzzTarget; submission: FuzzTarget }> {
  const gw = await startGateway(t, {
    mailhost: { watch_files: false },
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
  const auth = Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64');
  return { gateway: smtpTarget(gw.smtpPort), submission: { ...smtpTarget(gw.submissionPort ?? 0, { auth }), name: 'submission' } };
}

const SPAMD_MESSAGE = `${MIME[0]}`;
const spamdRequest = (verb: string, headers: string[] = []): Buffer =>
  Buffer.from(`${verb} SPAMC/1.5\r\nContent-length: ${Buffer.byteLength(SPAMD_MESSAGE, 'latin1')}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${SPAMD_MESSAGE}`, 'latin1');

/** The spamd listener of a gateway, with requests as spamc sends them (RFC-less: SpamAssassin's spamd protocol 1.5). */
export async function spamdFuzzTarget(t: TestContext): Promise<RequestTarget> {
  const gw = await startGateway(t, {
    ...scanTestConfig(),
    spamd: { enabled: true, listen: '127.0.0.1:0' },
  });
  const corpus = [
    Buffer.from('PING SPAMC/1.5\r\n\r\n'),
    Buffer.from('SKIP SPAMC/1.5\r\n\r\n'),
    ...['CHECK', 'SYMBOLS', 'REPORT', 'REPORT_IFSPAM', 'PROCESS', 'HEADERS'].map((v) => spamdRequest(v)),
    spamdRequest('CHECK', ['User: alice']),
    spamdRequest('TELL', ['Message-class: spam', 'Set: local']),
    spamdRequest('TELL', ['Message-class: ham', 'Remove: local, remote']),
  ];
  return {
    name: 'spamd',
    port: gw.spamdPort ?? 0,
    corpus,
    // every answer, an error included, is a "SPAMD/1.x code text" line first; SKIP alone is answered by closing
    check: (reply, sent) =>
      /^SPAMD\/1\.\d+ \d+ [^\r\n]*\r\n/.test(reply.toString('latin1')) || (reply.length === 0 && /^SKIP SPAMC\/1\.\d+\r\n/.test(sent.toString('latin1')))
        ? undefined
        : `not a spamd reply: ${JSON.stringify(reply.toString('latin1').slice(0, 200))}`,
    probe: Buffer.from('PING SPAMC/1.5\r\n\r\n'),
    probeOk: (reply) => reply.toString('latin1').startsWith('SPAMD/1.5 0 PONG'),
  };
}

/** The milter listener of a front-of gateway (the milter tests' set-up: marker rules, DNS checks off). */
export async function milterFuzzTarget(t: TestContext): Promise<FuzzTarget> {
  const gw = await startMilterGateway(t);
  return milterTarget(gw.milterPort);
}

/** The rspamd HTTP scan listener (spamd.http_listen) of a front-of gateway, learning allowed. */
export async function rspamdHttpFuzzTarget(t: TestContext): Promise<RequestTarget> {
  const gw = await startGateway(t, {
    ...scanTestConfig(),
    spamd: { enabled: true, listen: '127.0.0.1:0', http_listen: '127.0.0.1:0', allow_tell: true },
  });
  return rspamdHttpTarget(gw.scanHttpPort ?? 0);
}
