// Child process for the kill -9 test: enqueues one message, prints its id once enqueue() has
// resolved, then waits to be killed.
import { createRegistry } from '../../../src/metrics/registry.ts';
import { openSpool } from '../../../src/queue/spool.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: enqueue-child.ts SPOOL_DIR');
const spool = await openSpool({ dir, fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger });
const raw = Buffer.from(`Subject: crash\r\n\r\n${'x'.repeat(10_000)}\r\n`);
const { id } = await spool.enqueue({ mailFrom: 'a@b.test', rcptTo: ['c@d.test'], sessionId: 'k9', clientIp: '127.0.0.1', receivedAt: Date.now() }, raw);
process.stdout.write(`enqueued ${id}\n`);
// Keep writing in the background so the kill lands mid-work; bounded by the parent's kill.
for (let i = 0; i < 1000; i++) await spool.enqueue({ mailFrom: 'a@b.test', rcptTo: ['c@d.test'], sessionId: `k9-${i}`, clientIp: '127.0.0.1', receivedAt: Date.now() }, raw);
setInterval(() => undefined, 1000);
