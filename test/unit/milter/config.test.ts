// The milter section's defaults: the idle timeout must outlast what an MTA leaves between two milter steps.
// Postfix sends nothing while its client transfers the message (headers and body come when the data is
// complete) nor while a client pauses between commands (smtpd_timeout, 300s, per command): libmilter's
// default is 7210s. A timeout shorter than that closes the connection under a slow client, and Postfix then
// applies milter_default_action (tempfail) to a good message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { milterSection } from '../../../src/config/sections/milter.ts';

test('milter.timeout defaults to libmilter\'s 7210s and takes up to a day', () => {
  const c = milterSection.parse({});
  assert.ok(c.timeout >= 7_200_000, `default ${c.timeout}ms`);
  assert.equal(milterSection.parse({ timeout: '24h' }).timeout, 86_400_000);
  assert.throws(() => milterSection.parse({ timeout: '25h' }));
});
