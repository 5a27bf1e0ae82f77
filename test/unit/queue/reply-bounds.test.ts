// A next hop answering with a huge multi-line reply (close to what the client reads): the queue's log
// lines, its state file and the notices it sends (delay, expiry, failure) stay bounded and well-formed.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import type net from 'node:net';
import { test } from 'node:test';
import { stateFile } from '../../../src/queue/spool-format.ts';
import { startScriptedSmtp } from '../../helpers/scripted-smtp.ts';
import { envelope, message, scriptedQueue } from './helpers.ts';

/** 900 lines of 1000 characters (under the reader's megabyte), with a bare CR and a forged field in each. */
const hugeReply = (code: number, enhanced: string): string => {
  const line = `${enhanced} ${'Z'.repeat(960)}\rX-Forged: yes ${'\x0b'}`;
  return `${`${code}-${line}\r\n`.repeat(899)}${code} ${line}\r\n`;
};

interface Session {
  from: string;
  inData: boolean;
  data: string[];
}

/** The checks RFC 3464 and RFC 5322 put on a notice: lines of at most 998 octets, delivery-status fields only. */
function assertWellFormedDsn(dsn: string, recipients: number): void {
  const lines = dsn.split('\r\n');
  for (const l of lines) assert.ok(Buffer.byteLength(l, 'utf8') <= 998, `a line of ${Buffer.byteLength(l, 'utf8')} octets`);
  assert.ok(!lines.some((l) => /^X-Forged/i.test(l)), 'a field forged by the remote');
  const boundary = /boundary="([^"]+)"/.exec(dsn)?.[1];
  assert.ok(boundary, 'no boundary');
  const parts = dsn.split(`--${boundary}`);
  const status = parts.find((p) => /^\r\nContent-Type: message\/delivery-status/.test(p));
  assert.ok(status, 'no message/delivery-status part');
  const body = status.slice(status.indexOf('\r\n\r\n') + 4).replace(/(\r\n)+$/, '');
  const blocks = body.split('\r\n\r\n');
  assert.equal(blocks.length, 1 + recipients, 'per-message fields, then one block per recipient');
  for (const block of blocks) for (const l of block.split('\r\n')) assert.match(l, /^[A-Za-z][A-Za-z0-9-]*: [\x21-\x7e][\x20-\x7e]*$/, `not a field: ${l.slice(0, 80)}`);
  for (const block of blocks.slice(1)) assert.match(block, /\r\nDiagnostic-Code: (smtp|X-Spamgate); [45]\d\d /);
  assert.ok(dsn.length < 64 * 1024, `a notice of ${dsn.length} characters`);
}

test('a huge multi-line reply from the next hop: bounded log lines, state file and notices', async (t) => {
  const notices: string[] = [];
  const sessions = new WeakMap<net.Socket, Session>();
  const server = await startScriptedSmtp('220 scripted.test ESMTP', (line, sock) => {
    let s = sessions.get(sock);
    if (!s) sessions.set(sock, (s = { from: '', inData: false, data: [] }));
    if (s.inData) {
      if (line !== '.') return void s.data.push(line);
      s.inData = false;
      if (s.from === '<>') {
        notices.push(`${s.data.join('\r\n')}\r\n`);
        return void sock.write('250 2.0.0 notice taken\r\n');
      }
      return void sock.write(s.from.startsWith('<perm') ? hugeReply(550, '5.7.1') : hugeReply(451, '4.7.1'));
    }
    const verb = line.slice(0, 4).toUpperCase();
    if (verb === 'EHLO' || verb === 'HELO') return void sock.write('250 scripted.test\r\n');
    if (verb === 'MAIL') {
      s.from = line.slice(line.indexOf(':') + 1).split(' ')[0] ?? '';
      s.data = [];
      return void sock.write('250 2.1.0 ok\r\n');
    }
    if (verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP') return void sock.write('250 ok\r\n');
    if (verb === 'DATA') {
      s.inData = true;
      return void sock.write('354 go on\r\n');
    }
    if (verb === 'QUIT') return void sock.end('221 bye\r\n');
    sock.write('500 what\r\n');
  });
  t.after(() => server.close());

  const { clock, spool, scheduler, lines } = await scriptedQueue(t, server.port, { queue: { max_age: '30m', delay_warning: '1m' } });

  const rcpts = Array.from({ length: 10 }, (_, i) => `r${i}@dest.test`);
  const temp = await spool.enqueue(envelope({ mailFrom: 'temp@origin.test', rcptTo: rcpts }), message('temp'));
  await spool.enqueue(envelope({ mailFrom: 'perm@origin.test', rcptTo: rcpts }), message('perm'));
  await scheduler.runDue();

  const deferred = lines.filter((l) => l.includes('"message deferred"'));
  assert.equal(deferred.length, 1, 'the temporary failure is deferred');
  const line = deferred[0] ?? '';
  assert.ok(line.length < 2048, `"message deferred" is ${line.length} characters`);
  const error = (JSON.parse(line) as { error?: string }).error ?? '';
  assert.match(error, /^451 4\.7\.1 Z+/);
  assert.doesNotMatch(error, /[\u0000-\u001f]/, 'no control character of the remote in the field');
  const stateSize = statSync(stateFile(spool.paths, temp.id)).size;
  assert.ok(stateSize < 64 * 1024, `the state file is ${stateSize} octets for ${rcpts.length} recipients`);
  const done = lines.find((l) => l.includes('"message done"'));
  assert.ok(done && done.length < 16 * 1024, `"message done" is ${done?.length} characters`);

  // the delay warning at the next attempt, then the expiry notice (bounded steps: max_age is 30 minutes)
  for (let step = 0; step < 10 && scheduler.size() > 0; step++) {
    clock.advance(11 * 60_000);
    await scheduler.runDue();
    await scheduler.runDue(); // the notices just queued go out
  }
  const kinds = notices.map((n) => /^Subject: (.*)$/m.exec(n)?.[1]);
  assert.deepEqual(kinds.sort(), ['Delayed Mail (still being retried)', 'Undelivered Mail Returned to Sender', 'Undelivered Mail Returned to Sender']);
  for (const n of notices) assertWellFormedDsn(n, rcpts.length);
  assert.ok(notices.some((n) => /message expired after 30m in queue; last error: 451 4\.7\.1 Z/.test(n)), 'the expiry notice quotes the last reply');
  for (const l of lines) assert.ok(l.length < 16 * 1024, `a log line of ${l.length} characters`);
});

test('a huge greeting refusing service: the error logged and kept for the retry is bounded', async (t) => {
  const server = await startScriptedSmtp((sock) => sock.write(hugeReply(554, '5.3.2')), (_line, sock) => sock.write('503 no\r\n'));
  t.after(() => server.close());
  const { spool, scheduler, lines } = await scriptedQueue(t, server.port, { logRouter: true });
  const { id } = await spool.enqueue(envelope({ rcptTo: ['a@dest.test', 'b@dest.test'] }), message('greeting'));
  await scheduler.runDue();
  assert.ok(lines.some((l) => l.includes('"upstream delivery failed"')), 'the failure is logged');
  assert.ok(lines.some((l) => l.includes('"message deferred"') && /greeting 554 Z/.test(l)), 'deferred with the greeting quoted');
  for (const l of lines) assert.ok(l.length < 16 * 1024, `a log line of ${l.length} characters: ${l.slice(0, 60)}`);
  const stateSize = statSync(stateFile(spool.paths, id)).size;
  assert.ok(stateSize < 16 * 1024, `the state file is ${stateSize} octets`);
});

test('a reply past the reader megabyte bound, even a 5xx one, drops the connection and defers: no bounce', async (t) => {
  let inData = false;
  // 1200 lines of 1000 characters under 550: more than the reader keeps, so the connection is given up unread
  const server = await startScriptedSmtp('220 scripted.test ESMTP', (line, sock) => {
    if (inData) {
      if (line !== '.') return;
      inData = false;
      sock.on('error', () => undefined); // the client hangs up before all is written
      return void sock.write(`550-5.7.1 ${'W'.repeat(990)}\r\n`.repeat(1200) + '550 5.7.1 end\r\n');
    }
    const verb = line.slice(0, 4).toUpperCase();
    if (verb === 'EHLO' || verb === 'HELO') return void sock.write('250 scripted.test\r\n');
    if (verb === 'DATA') {
      inData = true;
      return void sock.write('354 go on\r\n');
    }
    if (verb === 'QUIT') return void sock.end('221 bye\r\n');
    sock.write('250 ok\r\n');
  });
  t.after(() => server.close());
  const { spool, scheduler, lines } = await scriptedQueue(t, server.port);
  await spool.enqueue(envelope({ mailFrom: 'a@origin.test', rcptTo: ['r@dest.test'] }), message('long'));
  await scheduler.runDue();
  assert.equal(scheduler.size(), 1, 'the message stays queued for a retry');
  const deferred = lines.filter((l) => l.includes('"message deferred"'));
  assert.equal(deferred.length, 1, 'deferred');
  assert.match((JSON.parse(deferred[0] ?? '{}') as { error?: string }).error ?? '', /^4\d\d /);
  assert.ok(!lines.some((l) => l.includes('"bounce queued"')), 'no bounce');
});
