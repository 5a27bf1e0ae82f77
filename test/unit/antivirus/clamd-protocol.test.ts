// clamd's wire protocol without I/O: addresses, INSTREAM chunk framing, scan replies; and the scanner's limiter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatClamdAddress, instreamFrames, MAX_CHUNK, parseClamdAddress, parseScanReply } from '../../../src/antivirus/clamd-protocol.ts';
import { Limiter } from '../../../src/antivirus/limiter.ts';

/** Reads the frames back: each 4-byte big-endian length and its data, up to the zero-length end. */
function unframe(frames: Buffer[]): { lengths: number[]; data: Buffer } {
  const all = Buffer.concat(frames);
  const lengths: number[] = [];
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const n = all.readUInt32BE(at);
    lengths.push(n);
    at += 4;
    if (n === 0) break;
    parts.push(all.subarray(at, at + n));
    at += n;
  }
  assert.equal(at, all.length, 'nothing after the zero-length chunk');
  return { lengths, data: Buffer.concat(parts) };
}

test('INSTREAM framing: chunks of at most 64 KiB after a 4-byte big-endian length, then a zero-length chunk', () => {
  const message = Buffer.alloc(2 * MAX_CHUNK + 1000);
  for (let i = 0; i < message.length; i++) message[i] = i % 251;
  const frames = [...instreamFrames(message)];
  const { lengths, data } = unframe(frames);
  assert.deepEqual(lengths, [65536, 65536, 1000, 0]);
  assert.ok(data.equals(message));
  assert.deepEqual([...(frames[0]?.subarray(0, 4) ?? [])], [0, 1, 0, 0], 'big-endian 65536');
  // exactly one chunk's worth, and nothing at all
  assert.deepEqual(unframe([...instreamFrames(Buffer.alloc(MAX_CHUNK))]).lengths, [65536, 0]);
  assert.deepEqual(unframe([...instreamFrames(Buffer.alloc(0))]).lengths, [0]);
  assert.deepEqual(unframe([...instreamFrames(Buffer.from('abcde'), 2)]).lengths, [2, 2, 1, 0]);
});

test('scan replies: OK, NAME FOUND, ... ERROR; anything else is an error result', () => {
  assert.deepEqual(parseScanReply('stream: OK'), { status: 'clean' });
  assert.deepEqual(parseScanReply('stream: OK\0'), { status: 'clean' });
  assert.deepEqual(parseScanReply('stream: Eicar-Test-Signature FOUND'), { status: 'virus', name: 'Eicar-Test-Signature' });
  assert.deepEqual(parseScanReply('stream: Spamgate.Test.Signature.UNOFFICIAL FOUND\n'), { status: 'virus', name: 'Spamgate.Test.Signature.UNOFFICIAL' });
  assert.deepEqual(parseScanReply('INSTREAM size limit exceeded. ERROR'), { status: 'error', message: 'INSTREAM size limit exceeded.' });
  assert.deepEqual(parseScanReply("stream: Can't allocate memory ERROR"), { status: 'error', message: "Can't allocate memory" });
  for (const garbled of ['', 'PONG', 'stream: FOUND', 'stream:  FOUND', 'stream: ok', 'OK']) {
    const r = parseScanReply(garbled);
    assert.equal(r.status, 'error', JSON.stringify(garbled));
  }
  // a hostile name: control characters replaced, length bounded
  const r = parseScanReply(`stream: Evil\x1b[31m${'x'.repeat(500)} FOUND`);
  assert.equal(r.status, 'virus');
  assert.ok(r.status === 'virus' && r.name.length === 200 && !/[\x00-\x1f]/.test(r.name));
});

test('clamd addresses: host:port, [v6]:port, unix:/path, /path; bad ones say what is wrong', () => {
  assert.deepEqual(parseClamdAddress('127.0.0.1:3310'), { kind: 'tcp', host: '127.0.0.1', port: 3310 });
  assert.deepEqual(parseClamdAddress('clamd.internal:3310'), { kind: 'tcp', host: 'clamd.internal', port: 3310 });
  assert.deepEqual(parseClamdAddress('[::1]:3310'), { kind: 'tcp', host: '::1', port: 3310 });
  assert.deepEqual(parseClamdAddress('unix:/run/clamav/clamd.ctl'), { kind: 'unix', path: '/run/clamav/clamd.ctl' });
  assert.deepEqual(parseClamdAddress('/run/clamav/clamd.ctl'), { kind: 'unix', path: '/run/clamav/clamd.ctl' });
  assert.equal(formatClamdAddress({ kind: 'tcp', host: '::1', port: 3310 }), '[::1]:3310');
  assert.equal(formatClamdAddress({ kind: 'unix', path: '/run/c.sock' }), 'unix:/run/c.sock');
  for (const [bad, why] of [
    ['127.0.0.1', /host:port/],
    ['127.0.0.1:0', /port from 1 to 65535/],
    ['127.0.0.1:70000', /port from 1 to 65535/],
    ['unix:relative.sock', /absolute socket path/],
    ['[nonsense]:3310', /IPv6 address/],
    ['bad_host!:3310', /host name or IP address/],
    ['', /host:port/],
  ] as const) {
    const r = parseClamdAddress(bad);
    assert.ok('error' in r, `${bad} refused`);
    assert.match(r.error, why);
  }
});

test('limiter: at most max holders, the next waits in order, an aborted waiter leaves the line', async () => {
  const limiter = new Limiter(1);
  const first = await limiter.acquire(new AbortController().signal);
  assert.ok(first);
  const gaveUp = new AbortController();
  const waitingAborted = limiter.acquire(gaveUp.signal);
  const waiting = limiter.acquire(new AbortController().signal);
  gaveUp.abort();
  assert.equal(await waitingAborted, undefined);
  assert.equal(limiter.inUse, 1);
  first();
  first(); // twice is once
  const second = await waiting;
  assert.ok(second);
  assert.equal(limiter.inUse, 1);
  second();
  assert.equal(limiter.inUse, 0);
  assert.equal(await limiter.acquire(AbortSignal.abort()), undefined);
});
