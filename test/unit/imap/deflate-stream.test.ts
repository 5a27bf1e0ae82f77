// DeflateStream (COMPRESS=DEFLATE transport): responses reach the peer without an end (sync flush per burst), and a
// reader that stops reading stops the inflater, so a decompression bomb is never inflated ahead of the session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { constants, createDeflateRaw, createInflateRaw, deflateRawSync } from 'node:zlib';
import { DeflateStream } from '../../../src/imap/deflate-stream.ts';

async function pair(t: { after(fn: () => void): void }): Promise<{ server: Socket; client: Socket }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const client = connect((srv.address() as AddressInfo).port, '127.0.0.1');
  const [server] = (await once(srv, 'connection')) as [Socket];
  t.after(() => {
    client.destroy();
    server.destroy();
    srv.close();
  });
  return { server, client };
}

test('each burst of writes is flushed: the peer inflates the whole of it while the stream stays open', async (t) => {
  const { server, client } = await pair(t);
  const z = new DeflateStream(server, () => undefined);
  const inflate = createInflateRaw();
  client.pipe(inflate);
  let got = '';
  inflate.on('data', (d: Buffer) => (got += d.toString('latin1')));
  for (const line of ['* 1 EXISTS\r\n', '* 1 RECENT\r\n', 'a OK done\r\n']) z.write(line);
  while (!got.includes('a OK done\r\n')) await once(inflate, 'data');
  assert.equal(got, '* 1 EXISTS\r\n* 1 RECENT\r\na OK done\r\n');
  // and what the peer sends compressed comes out inflated
  const deflate = createDeflateRaw();
  deflate.pipe(client);
  deflate.write('b NOOP\r\n');
  deflate.flush(constants.Z_SYNC_FLUSH);
  const [chunk] = (await once(z, 'data')) as [Buffer];
  assert.equal(chunk.toString(), 'b NOOP\r\n');
});

test('a paused reader holds the inflater back: a bomb is inflated no further than the stream buffers', async (t) => {
  const { server, client } = await pair(t);
  const z = new DeflateStream(server, () => undefined);
  z.pause();
  // 1 MB of zeros, compressed on its own (full flush): the same ~1 KB block repeated is a valid stream of any length
  const block = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: constants.Z_FULL_FLUSH });
  let offered = 0;
  // write until the bytes pile up on the client's side: the kernel's buffers are full, the server takes no more
  for (let i = 0; i < 100_000 && client.writableLength < 4 * 1024 * 1024; i++) {
    client.write(block);
    offered += 1 << 20;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(client.writableLength >= 4 * 1024 * 1024, 'the server stopped reading');
  assert.ok(z.bytesIn > 0, 'the server read some');
  assert.ok(z.bytesInflated < 1 << 20, `inflated ${z.bytesInflated} of ${offered} offered`);
  t.diagnostic(`offered ${offered} bytes inflated, ${z.bytesIn} compressed read, ${z.bytesInflated} inflated`);
});
