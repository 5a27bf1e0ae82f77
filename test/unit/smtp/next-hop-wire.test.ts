// The next-hop reply reader over a real loopback socket: multi-line replies, lines that disagree on the
// code (RFC 5321 §4.2.1) and an endless run of continuation lines are refused as broken peers.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { parseReplyLines, ReplyReader } from '../../../src/smtp/next-hop-wire.ts';

/** A reader attached to a client socket whose peer writes `text` once connected. */
async function readerFed(t: TestContext, text: string): Promise<ReplyReader> {
  const server = net.createServer((peer) => {
    peer.on('error', () => undefined); // the reader may hang up before all is written
    peer.end(text);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => socket.destroy());
  const reader = new ReplyReader(() => socket.destroy());
  reader.attach(socket);
  return reader;
}

test('parseReplyLines: enhanced code split off; lines with different codes are malformed', () => {
  assert.deepEqual(parseReplyLines(['250-mx.example', '250 2.0.0 ok']), { code: 250, text: 'mx.example 2.0.0 ok' });
  assert.deepEqual(parseReplyLines(['550 5.1.1 no such user']), { code: 550, enhanced: '5.1.1', text: 'no such user' });
  assert.equal(parseReplyLines(['250-fine', '550 not fine']).code, 0);
});

test('ReplyReader: a well-formed multi-line reply, then one whose codes differ is refused', async (t) => {
  const reader = await readerFed(t, '250-2.1.0 first\r\n250 second\r\n250-looks good\r\n550 5.7.1 but is not\r\n');
  assert.deepEqual(await reader.read(5000), { code: 250, enhanced: '2.1.0', text: 'first second' });
  await assert.rejects(reader.read(5000), /malformed reply: reply codes differ: 250,550/);
});

test('ReplyReader: more than 1000 continuation lines end the connection instead of piling up', async (t) => {
  const reader = await readerFed(t, '250-x\r\n'.repeat(1001) + '250 done\r\n');
  await assert.rejects(reader.read(5000), /reply of more than 1000 lines/);
  assert.match(reader.closed?.message ?? '', /more than 1000 lines/);
});

test('ReplyReader: a reply of fewer than 1000 lines but more than a megabyte in all ends the connection', async (t) => {
  // each line is well under the megabyte a single line may reach; 600 of them make 1.2 MB
  const reader = await readerFed(t, `250-${'x'.repeat(2000)}\r\n`.repeat(600) + '250 done\r\n');
  await assert.rejects(reader.read(5000), /reply too long/);
  assert.match(reader.closed?.message ?? '', /reply too long/);
});

test('ReplyReader: a long multi-line reply under the bound is read whole', async (t) => {
  const reader = await readerFed(t, `451-${'y'.repeat(900)}\r\n`.repeat(900) + '451 end\r\n');
  const reply = await reader.read(5000);
  assert.equal(reply.code, 451);
  assert.equal(reply.text.length, 900 * 901 + 3);
});

test('ReplyReader: past the bound the connection is hung up and nothing more is kept, even with no read waiting', () => {
  // a peer streaming without end while no read waits (an idle pooled connection): only the socket's own
  // close would stop the buffer growing, so the reader must hang up itself and stop keeping what comes
  const socket = new EventEmitter();
  let hungUp = 0;
  const reader = new ReplyReader(() => hungUp++);
  reader.attach(socket as unknown as net.Socket);
  const chunk = Buffer.from('x'.repeat(64 * 1024), 'latin1');
  for (let i = 0; i < 64; i++) socket.emit('data', chunk); // 4 MB, four times the bound
  assert.match(reader.closed?.message ?? '', /reply too long/);
  assert.equal(hungUp, 1, 'the reader hangs up once the bound is passed');
  assert.ok((reader as unknown as { buffer: string }).buffer.length <= 1_000_000, 'no more than the bound is kept');
});

test('ReplyReader: continuation lines past the bound hang up, with no read waiting', () => {
  const socket = new EventEmitter();
  let hungUp = 0;
  const reader = new ReplyReader(() => hungUp++);
  reader.attach(socket as unknown as net.Socket);
  const chunk = Buffer.from(`250-${'y'.repeat(4000)}\r\n`, 'latin1');
  for (let i = 0; i < 600; i++) socket.emit('data', chunk); // 2.4 MB in 600 lines
  assert.match(reader.closed?.message ?? '', /reply too long/);
  assert.equal(hungUp, 1);
  const kept = reader as unknown as { buffer: string; partial: string[] };
  assert.ok(kept.buffer.length + kept.partial.join('').length <= 1_000_000, 'no more than the bound is kept');
});

test('ReplyReader: replies nobody asked for count against the bound too, unread', () => {
  // short complete replies, never read: each is parsed and set aside, so the bound on one reply never applies
  const socket = new EventEmitter();
  let hungUp = 0;
  const reader = new ReplyReader(() => hungUp++);
  reader.attach(socket as unknown as net.Socket);
  const chunk = Buffer.from('250\r\n'.repeat(13_000), 'latin1'); // 65 kB
  for (let i = 0; i < 64; i++) socket.emit('data', chunk); // 832,000 replies, 4 MB
  assert.match(reader.closed?.message ?? '', /replies/);
  assert.equal(hungUp, 1);
  assert.ok((reader as unknown as { queued: unknown[] }).queued.length <= 1_000_000 / 5, 'no more replies kept than the bound allows');
});

test('ReplyReader: replies read as they come are not counted against later ones', async () => {
  const socket = new EventEmitter();
  const reader = new ReplyReader(() => assert.fail('hung up'));
  reader.attach(socket as unknown as net.Socket);
  const line = `250 ${'z'.repeat(500)}\r\n`;
  for (let i = 0; i < 4000; i++) {
    socket.emit('data', Buffer.from(line, 'latin1')); // 2 MB over all, one reply at a time
    assert.equal((await reader.read(5000)).code, 250);
  }
  assert.equal(reader.closed, undefined);
});
