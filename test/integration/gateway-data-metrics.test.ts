// Every transaction that reaches DATA is counted in spamgate_smtp_transactions_total: a message refused
// for its size (RFC 5321 §4.5.3.1.7) or its hop count (§6.3) as action="reject" (with its processing
// time), a client that leaves mid-DATA as action="aborted".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

async function sample(gw: RunningGateway, series: string): Promise<number> {
  const line = (await gw.app.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const REJECTED = 'spamgate_smtp_transactions_total{listener="smtp",action="reject"}';
const PROCESSED = 'spamgate_smtp_message_processing_seconds_count{listener="smtp"}';

test('size and hop limits at end of DATA count as rejected transactions', async (t) => {
  const gw = await startGateway(t, { smtp: { max_message_size: 4096, max_hops: 10 }, log_level: 'warn' });
  const big = await sendMessage(gw.smtpPort, 'a@example.org', ['postmaster@localhost'], `Subject: big\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(80));
  assert.equal(big.data?.code, 552);
  assert.equal(await sample(gw, REJECTED), 1);
  assert.equal(await sample(gw, 'spamgate_smtp_rejects_total{phase="data",family="SIZE",symbol="SIZE_LIMIT"}'), 1);
  const looped = await sendMessage(gw.smtpPort, 'a@example.org', ['postmaster@localhost'], `${'Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n'.repeat(12)}Subject: loop\r\n\r\nhi\r\n`);
  assert.equal(looped.data?.code, 554);
  assert.equal(await sample(gw, REJECTED), 2);
  assert.equal(await sample(gw, PROCESSED), 2, 'their processing time is observed as for any other transaction');
});

test('a client that leaves mid-DATA counts as an aborted transaction', async (t) => {
  const gw = await startGateway(t, { log_level: 'info' });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  await wire.command('EHLO client.test.example');
  await wire.command('MAIL FROM:<a@example.org>');
  await wire.command('RCPT TO:<postmaster@localhost>');
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write('Subject: cut\r\n\r\npart of a message');
  wire.close();
  // Bounded wait for the server to notice (an event we cannot subscribe to from here).
  for (let i = 0; i < 100 && !gw.logs.some((l) => l.msg === 'client disconnected during DATA'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(gw.logs.some((l) => l.msg === 'client disconnected during DATA'));
  assert.equal(await sample(gw, 'spamgate_smtp_transactions_total{listener="smtp",action="aborted"}'), 1);
});
