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
  assert.deepEqual(throttle.tracked, { ip: 1000, user: 1000 });
  clock.advance(61_000);
  throttle.fail('198.51.100.1', 'one@example.org');
  assert.deepEqual(throttle.tracked, { ip: 1, user: 1 });
});
