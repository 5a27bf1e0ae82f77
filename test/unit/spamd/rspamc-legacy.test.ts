// The legacy RSPAMC reader off a socket: a large body in many packets is gathered in linear time and handed to
// the judge whole, byte for byte.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { serveLegacy } from '../../../src/spamd/rspamc-legacy.ts';

test('a 48 MiB body in 64 KiB packets is read in linear time and judged whole', async () => {
  const size = 48 * 1024 * 1024;
  const packet = Buffer.alloc(64 * 1024, 0x61);
  const socket = Object.assign(new EventEmitter(), { pause: () => undefined, end: () => undefined, destroySoon: () => undefined });
  let judged: Buffer | undefined;
  let answered: () => void = () => undefined;
  const done = new Promise<void>((r) => (answered = r));
  serveLegacy(socket as unknown as Socket, Buffer.from(`CHECK RSPAMC/1.3\r\nContent-length: ${size}\r\n\r\n`), {
    maxSize: size,
    result: () => answered(),
    judge: (_h, _d, raw) => {
      judged = raw;
      return Promise.reject(new Error('judged'));
    },
  });
  const started = performance.now();
  for (let sent = 0; sent < size; sent += packet.length) socket.emit('data', packet);
  const ms = performance.now() - started;
  await done;
  assert.equal(judged?.length, size);
  assert.ok(judged?.every((b) => b === 0x61));
  // joined once: a few tens of ms; joined at every packet (quadratic), gigabytes copied, seconds
  assert.ok(ms < 1000, `read in ${Math.round(ms)} ms`);
});
