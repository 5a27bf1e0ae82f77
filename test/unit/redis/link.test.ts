// RedisLink keeps its client alive: a client that ioredis ended on its own (as a Sentinel failover during
// a reconnect can make it) is started again, while one the link closed stays closed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { eventually, linkTo, startRedis } from './redis-server.ts';

test('a client that ended without close() is started again; after close() it stays ended', async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis, { reconnect_max: '100ms' });
  assert.equal(await link.client.ping(), 'PONG');
  // disconnect() without close(): ioredis ends the client and would never reconnect by itself
  const ended = once(link.client, 'end');
  link.client.disconnect();
  await ended;
  assert.equal(link.isUp, false);
  await eventually(() => link.isUp, 5000);
  assert.equal(await link.client.ping(), 'PONG', 'the same link works again');

  await link.close();
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(link.client.status, 'end', 'a closed link is not revived');
  assert.equal(link.isUp, false);
});
