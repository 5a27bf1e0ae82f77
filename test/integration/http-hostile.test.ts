// The HTTP endpoint of a running gateway under wrong methods, odd request targets and malformed or huge
// requests: the right status each time, and /metrics stays valid for promtool.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';

function rawRequest(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.end(bytes);
  });
}

test('HTTP: 404 for unknown paths, 405 with Allow, absolute-form, malformed and huge requests; metrics stay valid', async (t) => {
  const gw = await startGateway(t, { log_level: 'silent' });
  const port = gw.httpPort ?? 0;
  const base = `http://127.0.0.1:${port}`;
  const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(10_000) });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal((await fetch(`${base}/nope`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) })).status, 404, 'an unknown path is 404 whatever the method');
  const head = await fetch(`${base}/healthz`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');

  assert.match(await rawRequest(port, 'GET http://gw.example/readyz HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /, 'absolute-form target (RFC 9112 §3.2.2)');
  assert.match(await rawRequest(port, 'GET /metrics?x=1#frag HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
  assert.match(await rawRequest(port, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await rawRequest(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a])), /^(HTTP\/1\.1 400 |$)/);
  assert.match(await rawRequest(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
  assert.match(await rawRequest(port, `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 431 /);
  assert.match(await rawRequest(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n'), /^HTTP\/1\.1 400 /);

  const metrics = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(metrics.status, 200);
  const body = await metrics.text();
  const promtool = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let report = '';
  promtool.stdout.on('data', (d: Buffer) => (report += d.toString()));
  promtool.stderr.on('data', (d: Buffer) => (report += d.toString()));
  promtool.stdin.end(body);
  const code = await new Promise<number | null>((resolve) => promtool.on('close', resolve));
  assert.equal(code, 0, report);
});
