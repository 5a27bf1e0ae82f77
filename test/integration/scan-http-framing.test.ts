// The rspamd HTTP listener's framing edges found by the protocol fuzzer (test/helpers/fuzz-http.ts): one
// response per connection even when bytes that are no request follow the first; a request without Host, a
// CONNECT and an unknown Expect answered with rspamd's {"error"} rather than node's bare 400, a silent close or
// node's 417 that keeps the connection open.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { DNS_CHECKS } from '../helpers/milter-gateway.ts';
import { rawExchange as raw } from '../helpers/raw-exchange.ts';

async function start(t: TestContext): Promise<number> {
  const gw = await startGateway(t, {
    mode: 'front-of',
    delivery: { upstream: { host: '127.0.0.1', port: 9 } },
    local_domains: ['example.test'],
    bayes: { enabled: false },
    checks: { disabled: DNS_CHECKS },
    spamd: { enabled: true, listen: '127.0.0.1:0', http_listen: '127.0.0.1:0' },
  });
  assert.ok(gw.scanHttpPort);
  return gw.scanHttpPort;
}

const statusLines = (reply: string): string[] => reply.match(/HTTP\/1\.1 \d{3} [^\r]*/g) ?? [];

test('rspamd http: a /ping followed by a malformed chunked body or junk gets one response, not a second 400', async (t) => {
  const port = await start(t);
  for (const request of [
    'GET /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    'GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcdeJUNK\r\n\r\n',
  ]) {
    const reply = await raw(port, [request], { end: true });
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200 OK'], reply);
    assert.ok(reply.endsWith('\r\n\r\npong\r\n'), reply);
  }
  // a malformed chunk inside a body being read, or a body cut short by the client's close, is that request's 400, once
  for (const request of ['POST /checkv2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n', 'POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc']) {
    const bad = await raw(port, [request], { end: true });
    assert.deepEqual(statusLines(bad), ['HTTP/1.1 400 Bad Request'], bad);
    assert.match(bad, /\{"error":"malformed HTTP request[^"]*"\}$/);
  }
});

test('rspamd http: an HTTP/1.1 request without Host is a 400 with rspamd\'s error text (RFC 9112 §3.2), and only that', async (t) => {
  const port = await start(t);
  for (const request of ['GET /ping HTTP/1.1\r\n\r\n', 'POST /checkv2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcJUNK\r\n\r\n']) {
    const reply = await raw(port, [request], { end: true });
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 400 Bad Request'], reply);
    const body = reply.slice(reply.indexOf('\r\n\r\n') + 4);
    assert.match((JSON.parse(body) as { error: string }).error, /Host/, reply);
  }
  // HTTP/1.0 needs none
  assert.match(await raw(port, ['GET /ping HTTP/1.0\r\n\r\n'], { end: true }), /^HTTP\/1\.1 200 /);
});

test('rspamd http: CONNECT is refused with 405 and rspamd\'s error text, not a silent close', async (t) => {
  const port = await start(t);
  const reply = await raw(port, ['CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n'], { end: true });
  assert.match(reply, /^HTTP\/1\.1 405 /, JSON.stringify(reply));
  assert.match(reply, /\{"error":"[^"]*CONNECT[^"]*"\}$/);
  // the listener goes on
  assert.match(await raw(port, ['GET /ping HTTP/1.1\r\nHost: x\r\n\r\n'], { end: true }), /pong/);
});

test('rspamd http: an unknown Expect is a 417 with rspamd\'s error text and closes the connection', async (t) => {
  const port = await start(t);
  // not half-closed: the listener itself must end the connection after its one answer
  const reply = await raw(port, ['GET /ping HTTP/1.1\r\nHost: x\r\nExpect: 1.2.3\r\n\r\n']);
  assert.match(reply, /^HTTP\/1\.1 417 /, JSON.stringify(reply));
  assert.match(reply, /\r\nconnection: close\r\n/i);
  assert.match(reply, /\{"error":"[^"]*Expect[^"]*"\}$/);
  // 100-continue is taken as before
  assert.match(await raw(port, ['POST /checkv2 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n', 'abc']), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
});

test('rspamd http: a /checkv2 whose whole body is followed by junk in the same write is judged, not refused as a malformed body', async (t) => {
  const port = await start(t);
  const msg = 'Subject: hi\r\n\r\nbody\r\n';
  const request = `POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: ${msg.length}\r\n\r\n${msg}`;
  for (const after of ['JUNK\r\n\r\n', 'POST /checkv2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']) {
    const reply = await raw(port, [request + after]);
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200 OK'], reply);
    assert.match(reply, /"action":/);
  }
});

test('rspamd http: a request with two Host header lines is a 400 (RFC 9112 §3.2), HTTP/1.0 or 1.1', async (t) => {
  const port = await start(t);
  for (const request of ['GET /ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'GET /ping HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n']) {
    const reply = await raw(port, [request], { end: true });
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 400 Bad Request'], reply);
    assert.match(reply, /\{"error":"[^"]*Host[^"]*"\}$/);
  }
});

test('rspamd http: every 405 names the methods allowed in Allow (RFC 9110 §15.5.6)', async (t) => {
  const port = await start(t);
  for (const [request, allow] of [
    ['OPTIONS /checkv2 HTTP/1.1\r\nHost: x\r\n\r\n', 'POST'],
    ['GET /learnspam HTTP/1.1\r\nHost: x\r\n\r\n', 'POST'],
    ['DELETE /ping HTTP/1.1\r\nHost: x\r\n\r\n', 'GET, HEAD, POST'],
    ['CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n', 'GET, HEAD, POST'],
  ] as const) {
    const reply = await raw(port, [request], { end: true });
    assert.match(reply, /^HTTP\/1\.1 405 /, reply);
    assert.match(reply, new RegExp(`\\r\\nallow: ${allow}\\r\\n`, 'i'), reply);
  }
});
