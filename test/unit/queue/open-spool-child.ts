// Child process for the spool lock race test: waits until the agreed instant, tries to open the spool,
// prints "open" or "busy"; an owner keeps the lock until its stdin closes, so every other child meets it.
import { createRegistry } from '../../../src/metrics/registry.ts';
import { openSpool } from '../../../src/queue/spool.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const [dir, at] = process.argv.slice(2);
if (!dir || !at) throw new Error('usage: open-spool-child.ts SPOOL_DIR START_MS');
while (Date.now() < Number(at)) {
  // busy-wait: the children must try within the same millisecond
}
try {
  const spool = await openSpool({ dir, fsync: false, clock: systemClock, registry: createRegistry(false), log: silentLogger });
  process.stdout.write('open\n');
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await spool.close();
} catch (err) {
  process.stdout.write(/in use by process/.test((err as Error).message) ? 'busy\n' : `error ${(err as Error).message}\n`);
}
