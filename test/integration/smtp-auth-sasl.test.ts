// SMTP AUTH exchanges with python smtplib as the client (submission, loopback: AUTH without TLS is allowed there):
// the PLAIN authorization identity (RFC 4616 §2) and malformed base64 responses (RFC 4954 §4).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { hashPassword } from '../../src/mailhost/password.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { runPython } from '../helpers/python.ts';

async function start(t: TestContext): Promise<RunningGateway> {
  const hash = (pw: string): Promise<string> => hashPassword(pw, { N: 1024, r: 8, p: 1 });
  return startGateway(t, {
    smtp: { auth: { failures: { per_ip: { limit: 2, window: '15m' }, per_user: { limit: 2, window: '15m' } } } },
    users: { 'alice@localhost': { password: await hash('alice-pw') }, 'bob@localhost': { password: await hash('bob-pw') } },
  });
}

/**
 * Runs each exchange on a fresh submission connection: a list of raw lines sent one at a time after EHLO
 * (the first is the AUTH command); prints the last reply of each as "code text".
 */
async function exchanges(gw: RunningGateway, runs: string[][]): Promise<string[]> {
  return runPython<string[]>(
    `
import json, smtplib, sys
out = []
for lines in json.loads(sys.argv[2]):
    s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
    s.ehlo('c.test.example')
    for line in lines:
        code, text = s.docmd(line)
    out.append('%d %s' % (code, text.decode()))
    s.close()
print(json.dumps(out))
`,
    [String(gw.submissionPort), JSON.stringify(runs)],
  );
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('AUTH PLAIN: an authorization identity other than the authenticating user is refused with 535 5.7.8', async (t) => {
  const gw = await start(t);
  const replies = await exchanges(gw, [
    [`AUTH PLAIN ${b64('bob@localhost\0alice@localhost\0alice-pw')}`],
    ['AUTH PLAIN', b64('bob@localhost\0alice@localhost\0alice-pw')],
    [`AUTH PLAIN ${b64('ALICE@localhost\0alice@localhost\0alice-pw')}`],
    [`AUTH PLAIN ${b64('\0alice@localhost\0alice-pw')}`],
    [`AUTH PLAIN ${b64('alice@localhost\0\0alice-pw')}`],
  ]);
  assert.match(replies[0] ?? '', /^535 5\.7\.8 /);
  assert.match(replies[1] ?? '', /^535 5\.7\.8 /, 'the same in a continuation line');
  assert.deepEqual(
    replies.slice(2).map((r) => r.slice(0, 3)),
    ['235', '235', '235'],
    'an authzid naming the user (in any case), none, or only an authzid (the user name) logs in',
  );
});
test('AUTH with a response that is not base64 gets 501 and is not counted as a failed login', async (t) => {
  const gw = await start(t);
  const replies = await exchanges(gw, [
    ['AUTH PLAIN not*base64'],
    ['AUTH PLAIN', '%%%'],
    ['AUTH LOGIN', 'not base64!'],
    ['AUTH LOGIN', b64('alice@localhost'), '!!!!'],
    [`AUTH LOGIN ${b64('alice@localhost')}`, 'YWxpY2UtcHc'], // unpadded
    ['AUTH LOGIN', b64('alice@localhost'), b64('alice-pw')],
  ]);
  for (const r of replies.slice(0, 5)) assert.match(r, /^501 5\.5\.2 /, r);
  assert.match(replies[5] ?? '', /^235 /, 'five malformed exchanges counted nothing against a limit of 2');
});
