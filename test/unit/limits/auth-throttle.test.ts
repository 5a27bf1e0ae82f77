// Failed-login throttle: attempts in flight count, later ones wait for outcomes, windows pass with the clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthThrottle } from '../../../src/limits/auth-throttle.ts';
import { ManualClock } from '../../../src/util/clock.ts';

const make = (clock: ManualClock): AuthThrottle => new AuthThrottle({ clock, perIp: { limit: 4, window: 1000 }, perUser: { limit: 2, window: 1000 } });

/** The state of a promise now, without waiting for it. */
async function settled<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

test('past the limit in flight, an attempt waits; failures then refuse it, a success lets it in', async () => {
  const clock = new ManualClock(0);
  const t = make(clock);
  assert.equal(await t.begin('192.0.2.1', 'Alice'), true);
  assert.equal(await t.begin('192.0.2.2', 'alice'), true);
  const third = t.begin('192.0.2.3', 'ALICE');
  assert.equal(await settled(third), 'pending', 'two in flight for alice: a third waits');
  t.settle('192.0.2.1', 'Alice', false);
  assert.equal(await settled(third), 'pending', 'one failure and one in flight still fill the limit');
  t.settle('192.0.2.2', 'alice', false);
  assert.equal(await third, false, 'two failures: refused unchecked');
  assert.equal(t.blocked('192.0.2.9', 'alice'), true);
  clock.advance(1001);
  assert.equal(t.blocked('192.0.2.9', 'alice'), false, 'the window passes');
  assert.equal(await t.begin('192.0.2.1', 'alice'), true);
  assert.equal(await t.begin('192.0.2.2', 'alice'), true);
  const waiting = t.begin('192.0.2.3', 'alice');
  t.settle('192.0.2.1', 'alice', true);
  assert.equal(await waiting, true, 'a success clears the failures and frees a slot');
});

test('the address limit counts every user it tried', async () => {
  const t = make(new ManualClock(0));
  for (const u of ['a', 'b', 'c', 'd']) {
    assert.equal(await t.begin('198.51.100.7', u), true);
    t.settle('198.51.100.7', u, false);
  }
  assert.equal(await t.begin('198.51.100.7', 'e'), false);
  assert.equal(await t.begin('198.51.100.8', 'e'), true);
});

test('a user name is counted as the directory reads it: surrounding white space and case make no new count', () => {
  const t = make(new ManualClock(0));
  t.fail('192.0.2.1', 'alice@example.org');
  t.fail('192.0.2.2', '\talice@EXAMPLE.org ');
  for (const spelling of ['alice@example.org', ' alice@example.org', 'alice@example.org\u000b', '\u00a0Alice@example.org']) {
    assert.equal(t.blocked('192.0.2.3', spelling), true, JSON.stringify(spelling));
  }
  const abandoned = make(new ManualClock(0));
  void abandoned.begin('192.0.2.1', 'bob');
  abandoned.abandon('192.0.2.1', 'bob');
  assert.equal(abandoned.blocked('192.0.2.1', 'bob'), false, 'an attempt without an outcome counts nothing');
});

test('failures that left the window are forgotten as new ones come in, not held until the key bound', () => {
  const clock = new ManualClock(1_000_000);
  const throttle = new AuthThrottle({ clock, perIp: { limit: 10, window: 60_000 }, perUser: { limit: 5, window: 60_000 } });
  for (let i = 0; i < 1000; i++) throttle.fail(`192.0.2.${i % 250}.${i}`, `guess${i}@example.org`);
  assert.deepEqual(throttle.tracked, { ip: 1000, user: 1000, known: 0 });
  clock.advance(61_000);
  throttle.fail('198.51.100.1', 'one@example.org');
  assert.deepEqual(throttle.tracked, { ip: 1, user: 1, known: 0 });
});

test('an IPv6 client counts as its network: fresh addresses of one /64 share one address budget', async () => {
  const t = new AuthThrottle({ clock: new ManualClock(0), perIp: { limit: 3, window: 1000 }, perUser: { limit: 100, window: 1000 } });
  for (const ip of ['2001:db8:1:1::1', '2001:db8:1:1::2', '2001:DB8:1:1:0:0:0:3']) {
    assert.equal(await t.begin(ip, `guess-${ip}`), true, ip);
    t.settle(ip, `guess-${ip}`, false);
  }
  assert.equal(await t.begin('2001:db8:1:1:ffff::4', 'another'), false, 'another address of the /64 is refused');
  assert.equal(await t.begin('2001:db8:1:2::1', 'another'), true, 'another /64 has its own budget');
  const wide = new AuthThrottle({ clock: new ManualClock(0), perIp: { limit: 1, window: 1000 }, perUser: { limit: 100, window: 1000 }, ipv6Prefix: 48 });
  wide.fail('2001:db8:1:1::1', 'x');
  assert.equal(wide.blocked('2001:db8:1:2::1', 'y'), true, 'ipv6Prefix 48: one /48 is one client');
});

test("a success clears only the failures its own address made for the user, not a guesser's elsewhere", async () => {
  const t = new AuthThrottle({ clock: new ManualClock(0), perIp: { limit: 100, window: 1000 }, perUser: { limit: 4, window: 1000 } });
  for (let i = 0; i < 2; i++) {
    assert.equal(await t.begin('203.0.113.66', 'alice'), true);
    t.settle('203.0.113.66', 'alice', false);
  }
  assert.equal(await t.begin('198.51.100.1', 'alice'), true);
  t.settle('198.51.100.1', 'alice', false); // the owner mistypes once
  assert.equal(await t.begin('198.51.100.1', 'alice'), true);
  t.settle('198.51.100.1', 'alice', true); // and gets in: their own failure is gone, the guesser's two stay
  assert.equal(t.blocked('192.0.2.5', 'alice'), false);
  for (let i = 0; i < 2; i++) {
    assert.equal(await t.begin('203.0.113.66', 'alice'), true);
    t.settle('203.0.113.66', 'alice', false);
  }
  assert.equal(t.blocked('192.0.2.5', 'alice'), true, "the guesser's fourth failure blocks alice: the owner's login reset nothing of theirs");
  assert.equal(t.blocked('203.0.113.66', 'alice'), true);
});

test('an address that logged in as the user lately is not held back by the user block, only by its own limit', async () => {
  const clock = new ManualClock(0);
  const t = new AuthThrottle({ clock, perIp: { limit: 3, window: 1000 }, perUser: { limit: 2, window: 1000 }, knownFor: 10_000 });
  assert.equal(await t.begin('198.51.100.1', 'alice'), true);
  t.settle('198.51.100.1', 'alice', true);
  t.fail('203.0.113.1', 'alice');
  t.fail('203.0.113.2', 'alice');
  assert.equal(t.blocked('192.0.2.9', 'Alice'), true, 'a new address is blocked for alice');
  assert.equal(t.blocked('198.51.100.1', 'Alice'), false, 'the address alice used is not');
  assert.equal(await t.begin('198.51.100.1', 'alice'), true);
  t.settle('198.51.100.1', 'alice', true);
  assert.equal(t.blocked('198.51.100.1', 'bob'), false, 'as alice only');
  t.fail('198.51.100.1', 'bob');
  t.fail('198.51.100.1', 'carol');
  t.fail('198.51.100.1', 'dave');
  assert.equal(t.blocked('198.51.100.1', 'alice'), true, 'its own address limit still holds');
  clock.advance(10_000);
  t.fail('203.0.113.1', 'alice');
  t.fail('203.0.113.2', 'alice');
  assert.equal(t.blocked('198.51.100.1', 'alice'), true, 'after knownFor the address is a stranger again');
});

test('the remembered (user, address) pairs are bounded: the least recently used go first', async () => {
  const clock = new ManualClock(0);
  const t = new AuthThrottle({ clock, perIp: { limit: 100, window: 1000 }, perUser: { limit: 1, window: 1000 }, maxKnown: 3 });
  for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) {
    assert.equal(await t.begin(ip, 'alice'), true);
    t.settle(ip, 'alice', true);
  }
  assert.equal(await t.begin('192.0.2.1', 'alice'), true);
  t.settle('192.0.2.1', 'alice', true); // used again: now the most recent
  assert.equal(await t.begin('192.0.2.4', 'alice'), true);
  t.settle('192.0.2.4', 'alice', true);
  assert.equal(t.tracked.known, 3);
  t.fail('203.0.113.1', 'alice');
  assert.deepEqual(
    ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'].map((ip) => t.blocked(ip, 'alice')),
    [false, true, false, false],
  );
});
