// Tests: a full-stack gateway (no Bayes, no DNS checks) that has received one SMTPUTF8 message over SMTP (MAIL FROM
// with a UTF-8 address, SMTPUTF8 BODY=8BITMIME) for postmaster@localhost and delivered it to the mailbox, for the
// POP3 and IMAP tests of what legacy and UTF-8 clients are sent.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { messageDone } from './await-log.ts';
import { startGateway, type RunningGateway } from './gateway.ts';
import { DNS_CHECKS } from './quarantine-rules.ts';
import { SmtpWire } from './smtp-wire.ts';

/** Starts the gateway and delivers `message` (CRLF, addressed to postmaster@localhost) through its SMTP listener. */
export async function gatewayWithSmtputf8Mail(t: TestContext, message: string): Promise<RunningGateway> {
  const gw = await startGateway(t, { bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: DNS_CHECKS } });
  const mark = gw.logs.length;
  const { wire: smtp } = await SmtpWire.open(gw.smtpPort);
  t.after(() => smtp.close());
  await smtp.command('EHLO client.test.example');
  assert.equal((await smtp.command('MAIL FROM:<jörg@bücher.example> SMTPUTF8 BODY=8BITMIME')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(Buffer.from(message));
  const done = await smtp.command('.');
  assert.equal(done.code, 250, done.text);
  await messageDone(gw, mark, /queued as (\S+)/.exec(done.text)?.[1] ?? '?');
  return gw;
}
