// The expiry notice's lifetime text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lifetimeText } from '../../../src/queue/scheduler.ts';

test('the expiry notice states queue.max_age exactly, below a second and with fractions of one too', () => {
  assert.equal(lifetimeText(5 * 86_400_000), '5d');
  assert.equal(lifetimeText(36 * 3_600_000), '36h');
  assert.equal(lifetimeText(90 * 60_000), '90m');
  assert.equal(lifetimeText(70_000), '70s');
  // were "2s", "0s" and "91s"
  assert.equal(lifetimeText(1500), '1500ms');
  assert.equal(lifetimeText(400), '400ms');
  assert.equal(lifetimeText(90_500), '90500ms');
  assert.equal(lifetimeText(0), '0s');
});
