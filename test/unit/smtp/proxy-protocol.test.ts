// PROXY protocol v1/v2 header parsing, including partial and hostile input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyHeader, V2_SIGNATURE } from '../../../src/smtp/proxy-protocol.ts';

test('v1 TCP4 and TCP6 lines, with the bytes after the header left alone', () => {
  const r = parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 40000 25\r\nEHLO x\r\n'));
  assert.ok(r.done && 'info' in r);
  assert.deepEqual(r.info, { kind: 'proxied', sourceIp: '192.0.2.1', sourcePort: 40000, destIp: '192.0.2.2', destPort: 25 });
  assert.equal(r.consumed, 'PROXY TCP4 192.0.2.1 192.0.2.2 40000 25\r\n'.length);
  const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n'));
  assert.ok(six.done && 'info' in six && six.info.kind === 'proxied' && six.info.sourceIp === '2001:db8::1');
  const unknown = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'));
  assert.ok(unknown.done && 'info' in unknown && unknown.info.kind === 'local');
});

test('v1: incomplete waits, garbage and overlong lines are errors', () => {
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.1')), { done: false });
  for (const bad of ['PROXY TCP4 192.0.2.1 192.0.2.2 99999 25\r\n', 'PROXY TCP4 a b 1 2\r\n', 'PROXY TCP9 1 2 3 4\r\n', `PROXY ${'x'.repeat(200)}`]) {
    const r = parseProxyHeader(Buffer.from(bad));
    assert.ok(r.done && 'error' in r, bad);
  }
  const notProxy = parseProxyHeader(Buffer.from('EHLO x\r\n'));
  assert.ok(notProxy.done && 'error' in notProxy);
});

test('v2 IPv4 PROXY, LOCAL, truncated and oversized headers', () => {
  const body = Buffer.from([192, 0, 2, 9, 192, 0, 2, 1, 0x9c, 0x40, 0, 25]);
  const header = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 12]), body]);
  const r = parseProxyHeader(header);
  assert.ok(r.done && 'info' in r);
  assert.deepEqual(r.info, { kind: 'proxied', sourceIp: '192.0.2.9', sourcePort: 40000, destIp: '192.0.2.1', destPort: 25 });
  assert.deepEqual(parseProxyHeader(header.subarray(0, 20)), { done: false });
  const local = parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]));
  assert.ok(local.done && 'info' in local && local.info.kind === 'local');
  const huge = parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]));
  assert.ok(huge.done && 'error' in huge);
  const badVersion = parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x11, 0x11, 0, 12]), body]));
  assert.ok(badVersion.done && 'error' in badVersion);
});
