// The envelope facts read from the topmost Received field: the forms Postfix, Sendmail, Exim and spamgate write,
// and what is never taken (an internal hop, a trusted network, a field in another form, a deeper field).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envelopeFromHeaders, parseReceived } from '../../../src/spamd/envelope.ts';
import { receivedHeader } from '../../../src/smtp/trace-headers.ts';
import { CidrSet } from '../../../src/util/cidr.ts';

test('Received forms: Postfix, Sendmail, Exim and spamgate', () => {
  assert.deepEqual(parseReceived('from mail.example.com (mail.example.com [198.51.100.7]) by mx.example.org (Postfix) with ESMTPS id 4Abc; Sun, 22 Nov 2026 00:00:00 +0000'), {
    clientIp: '198.51.100.7',
    clientHostname: 'mail.example.com',
    helo: 'mail.example.com',
  });
  assert.deepEqual(parseReceived('from helo.example (unknown [IPv6:2001:DB8::25]) by mx.example.org (Postfix)'), { clientIp: '2001:db8::25', helo: 'helo.example' });
  assert.deepEqual(parseReceived('from bad.helo (host.example.net [203.0.113.5] (may be forged)) by mx.example.org (8.17.1/8.17.1) with ESMTP id x'), {
    clientIp: '203.0.113.5',
    clientHostname: 'host.example.net',
    helo: 'bad.helo',
  });
  assert.deepEqual(parseReceived('from host.example.net ([203.0.113.5] helo=liar.example) by mx.example.org with esmtp (Exim 4.96) (envelope-from <b@example.net>) id 1'), {
    clientIp: '203.0.113.5',
    clientHostname: 'host.example.net',
    helo: 'liar.example',
    mailFrom: 'b@example.net',
  });
  assert.deepEqual(parseReceived('from [203.0.113.5] (helo=liar.example) by mx.example.org with esmtp (Exim 4.96) (envelope-from <>) id 1'), { clientIp: '203.0.113.5', helo: 'liar.example', mailFrom: '' });
  assert.deepEqual(parseReceived('from host.example.net ([203.0.113.5]) by mx.example.org with esmtp (Exim 4.96)'), { clientIp: '203.0.113.5', helo: 'host.example.net' });
  const ours = receivedHeader({ helo: 'client.example', clientHostname: 'rdns.example', clientIp: '192.0.2.44', hostname: 'mx.example.org', secure: true, authenticated: false, esmtp: true, id: 'abc', date: new Date(0) });
  assert.deepEqual(parseReceived(ours.replace(/\r\n/g, ' ')), { clientIp: '192.0.2.44', clientHostname: 'rdns.example', helo: 'client.example' });
  // no client in it: local submission, a malformed address
  assert.equal(parseReceived('from user by mx.example.org with local (Exim 4.96) (envelope-from <user@example.org>)'), undefined);
  assert.equal(parseReceived('by mx.example.org (Postfix, from userid 1000) id 4Abc'), undefined);
  assert.equal(parseReceived('from x (y [999.1.1.1]) by z'), undefined);
});

const none = new CidrSet([]);
const h = (name: string, value: string) => ({ name, value });

test('only the topmost Received field counts, with a Return-Path above it; internal and trusted hops give nothing', () => {
  const external = h('Received', 'from mail.example.com (mail.example.com [198.51.100.7]) by mx.example.org (Postfix)');
  assert.deepEqual(envelopeFromHeaders([h('Return-Path', '<bounce@example.com>'), h('Delivered-To', 'u@example.org'), external, h('Received', 'from x (y [203.0.113.9]) by z')], none), {
    clientIp: '198.51.100.7',
    clientHostname: 'mail.example.com',
    helo: 'mail.example.com',
    mailFrom: 'bounce@example.com',
  });
  // a Return-Path below the first Received field is the message's own text: not the envelope
  assert.equal(envelopeFromHeaders([external, h('Return-Path', '<x@example.com>')], none)?.mailFrom, undefined);
  // the first field is no Received: nothing (a deeper Received could be forged by the sender)
  assert.equal(envelopeFromHeaders([h('From', 'a@example.com'), external], none), undefined);
  assert.equal(envelopeFromHeaders([], none), undefined);
  for (const ip of ['10.0.0.1', '127.0.0.1', '192.168.1.2', '172.20.0.1', '169.254.0.9', '100.64.0.1', 'fd00::1', '::1']) {
    assert.equal(envelopeFromHeaders([h('Received', `from internal (gw [${ip}]) by mx`)], none), undefined, ip);
  }
  assert.equal(envelopeFromHeaders([external], new CidrSet(['198.51.100.0/24'])), undefined, 'a trusted network is our own hop');
});

test('an IPv4 client written as an IPv6 address, in any spelling, is that IPv4 address: internal and trusted hops still give nothing', () => {
  const none = new CidrSet([]);
  const top = (ip: string) => envelopeFromHeaders([{ name: 'Received', value: `from a.example (b.example [${ip}]) by mx.example.org (Postfix)` }], none)?.clientIp;
  assert.equal(top('IPv6:::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(top('IPv6:::ffff:c633:6407'), '198.51.100.7');
  // loopback and a private network, mapped (RFC 4291 §2.5.5.2) or behind the NAT64 prefix (RFC 6052 §2.1)
  assert.equal(top('IPv6:::ffff:7f00:1'), undefined);
  assert.equal(top('IPv6:64:ff9b::a00:1'), undefined);
  assert.equal(envelopeFromHeaders([{ name: 'Received', value: 'from a.example (b.example [IPv6:::ffff:cb00:7105]) by mx' }], new CidrSet(['203.0.113.0/24'])), undefined);
});
