// The envelope of an rspamd-protocol request from its headers: IP (IPv4-mapped unwrapped), Helo, Hostname
// ("unknown" dropped), From ("<>" a bounce), repeated Rcpt, and 400-worthy values refused with a reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readEnvelope } from '../../../src/spamd/rspamd-request.ts';

test('the envelope from IP, Helo, Hostname, From, Rcpt, User', () => {
  const env = readEnvelope({ ip: '::ffff:198.51.100.7', helo: 'mail.sender.example', hostname: 'unknown', from: '<>', user: 'alice', 'queue-id': 'Q1' }, { rcpt: ['<a@example.test>', 'b@example.test, <c@example.test>'] });
  assert.deepEqual(env, { facts: { clientIp: '198.51.100.7', helo: 'mail.sender.example', mailFrom: '' }, rcpts: ['a@example.test', 'b@example.test', 'c@example.test'], user: 'alice', queueId: 'Q1' });
  const named = readEnvelope({ ip: '[2001:db8::1]', hostname: 'Mail.Sender.Example.', helo: '[192.0.2.1]' }, {});
  assert.deepEqual(named, { facts: { clientIp: '2001:db8::1', clientHostname: 'mail.sender.example', helo: '[192.0.2.1]' }, rcpts: [] });
  // no IP: no envelope facts (the From alone starts no MAIL checks)
  assert.deepEqual(readEnvelope({ from: 'x@y.example' }, {}), { facts: undefined, rcpts: [] });
});

test('values that are not what their header names are refused', () => {
  assert.deepEqual(readEnvelope({ ip: '300.1.1.1' }, {}), { error: 'IP header is not an IP address: 300.1.1.1' });
  assert.ok('error' in readEnvelope({ ip: '192.0.2.1', helo: 'a b' }, {}));
  assert.ok('error' in readEnvelope({ from: '<a b@c>' }, {}));
  assert.ok('error' in readEnvelope({}, { rcpt: ['<>'] }));
  assert.ok('error' in readEnvelope({}, { rcpt: [Array.from({ length: 1001 }, (_, i) => `u${i}@x.example`).join(',')] }));
  assert.deepEqual(readEnvelope({ ip: '192.0.2.1\u0000' }, {}), { error: 'IP header is not an IP address: 192.0.2.1?' });
});

test('a quoted local part with a blank, as Exim sends it in Rcpt, is an address', () => {
  const env = readEnvelope({ ip: '192.0.2.1', from: '<"john doe"@sender.example>' }, { rcpt: ['<"jane q"@example.test>'] });
  assert.deepEqual(env, { facts: { clientIp: '192.0.2.1', mailFrom: '"john doe"@sender.example' }, rcpts: ['"jane q"@example.test'] });
  assert.ok('error' in readEnvelope({}, { rcpt: ['<"jane q" x@example.test>'] }));
  assert.ok('error' in readEnvelope({}, { rcpt: ['<jane\u0001@example.test>'] }));
});

test('a comma-separated Rcpt list is cut only outside quoted local parts', () => {
  const env = readEnvelope({}, { rcpt: ['<"doe, john"@example.test>, <b@example.test>,<"x\\"y,z"@example.test>'] });
  assert.deepEqual(env, { facts: undefined, rcpts: ['"doe, john"@example.test', 'b@example.test', '"x\\"y,z"@example.test'] });
});
