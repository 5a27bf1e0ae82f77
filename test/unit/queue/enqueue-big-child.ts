// Child process for the short-write test: run under a file size limit (ulimit -f), enqueues one
// message larger than the limit and prints whether the spool acknowledged or refused it.
import { createRegistry } from '../../../src/metrics/registry.ts';
import { openSpool } from '../../../src/queue/spool.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: enqueue-big-child.ts SPOOL_DIR');
const spool = await openSpool({ dir, fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger });
const raw = Buffer.from(`Subject: big\r\n\r\n${'x'.repeat(40_000)}\r\n`);
try {
  const { id } = await spool.enqueue({ mailFrom: 'a@b.test', rcptTo: ['c@d.test'], sessionId: 'big', clientIp: '127.0.0.1', receivedAt: Date.now() }, raw);
  process.stdout.write(`enqueued ${id}\n`);
} catch (err) {
  process.stdout.write(`refused ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
}
await spool.close();
