// IPv6 expansion and CIDR matching, including addresses written with an embedded dotted IPv4 part.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrContains, expandIpv6, parseCidr } from '../../../src/util/cidr.ts';

test('expandIpv6 gives eight groups for every spelling, dotted IPv4 tails included', () => {
  assert.deepEqual(expandIpv6('2001:db8::1'), [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(expandIpv6('::1.2.3.4'), [0, 0, 0, 0, 0, 0, 0x0102, 0x0304]);
  assert.deepEqual(expandIpv6('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
  assert.deepEqual(expandIpv6('64:ff9b::1.2.3.4'), [0x64, 0xff9b, 0, 0, 0, 0, 0x0102, 0x0304]);
  assert.deepEqual(expandIpv6('1:2:3:4:5:6:1.2.3.4'), [1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
});

test('a CIDR contains the dotted and the hex spelling of the same address alike', () => {
  const nat64 = parseCidr('64:ff9b::/96');
  assert.ok(nat64);
  assert.equal(cidrContains(nat64, '64:ff9b::1.2.3.4'), true);
  assert.equal(cidrContains(nat64, '64:ff9b::102:304'), true);
  assert.equal(cidrContains(nat64, '64:ff9c::1.2.3.4'), false);
});
