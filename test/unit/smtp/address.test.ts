// Address parsing for relay control: normalisation and detection of routing tricks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLocalDomain, isPostmaster, parseAddress, stripSourceRoute } from '../../../src/smtp/address.ts';

const local = new Set(['local.example']);

test('normalises case and trailing dots of the domain only', () => {
  const a = parseAddress('John.Doe@LOCAL.Example.');
  assert.equal(a.domain, 'local.example');
  assert.equal(a.local, 'John.Doe');
  assert.equal(a.trick, undefined);
});

test('strips source routes and judges the final mailbox (RFC 5321 App. C)', () => {
  assert.deepEqual(stripSourceRoute('@a.example,@b.example:u@c.example'), { address: 'u@c.example', hadRoute: true });
  assert.equal(parseAddress('@local.example:u@remote.example').domain, 'remote.example');
});

test('spots routing syntax in the local part', () => {
  assert.equal(parseAddress('u%remote.example@local.example').trick, 'percent-hack');
  assert.equal(parseAddress('remote.example!u@local.example').trick, 'bang-path');
  assert.equal(parseAddress('"u@remote.example"@local.example').trick, 'at-in-local-part');
  assert.equal(parseAddress('"u%remote.example"@local.example').trick, 'percent-hack');
  assert.equal(parseAddress('u@remote.example@local.example').trick, 'at-in-local-part');
  assert.equal(parseAddress('"unterminated@local.example').trick, 'bad-syntax');
});

test('address literals are literals, never a local domain name', () => {
  const a = parseAddress('u@[192.0.2.1]');
  assert.equal(a.literal, true);
  assert.equal(isLocalDomain(a.domain, local), false);
  assert.equal(parseAddress('u@[IPv6:2001:db8::1]').literal, true);
  assert.equal(parseAddress('u@[not-an-ip]').trick, 'bad-syntax');
});

test('local domain match is exact: no suffix or prefix look-alikes', () => {
  assert.equal(isLocalDomain('local.example', local), true);
  assert.equal(isLocalDomain('evillocal.example', local), false);
  assert.equal(isLocalDomain('local.example.evil', local), false);
  assert.equal(isLocalDomain('sub.local.example', local), false);
  assert.equal(isLocalDomain('', local), false);
});

test('postmaster in any case, with a local domain or none (RFC 5321 §4.5.1)', () => {
  assert.equal(isPostmaster(parseAddress('PostMaster@local.example'), local), true);
  assert.equal(isPostmaster(parseAddress('postmaster'), local), true);
  assert.equal(isPostmaster(parseAddress('postmaster@remote.example'), local), false);
});
