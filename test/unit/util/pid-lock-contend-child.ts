// Child process for the pid-lock contention test: takes the lock ROUNDS times (waiting while another process holds
// it), and inside each hold makes a marker file that must not exist (a second holder at once would find it there:
// exit 3), adds one to the counter file, removes the marker and releases.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { releasePidLock, takePidLock } from '../../../src/util/pid-lock.ts';

const [lock, marker, counter, rounds] = process.argv.slice(2);
if (!lock || !marker || !counter || !rounds) throw new Error('usage: pid-lock-contend-child.ts LOCK MARKER COUNTER ROUNDS');
for (let i = 0; i < Number(rounds); i++) {
  for (;;) {
    const r = await takePidLock(lock).catch(() => ({ ok: false }) as const);
    if (r.ok) break;
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
  }
  try {
    writeFileSync(marker, String(process.pid), { flag: 'wx' });
  } catch {
    process.stderr.write(`two holders at once: ${process.pid} and ${readFileSync(marker, 'utf8')}\n`);
    process.exit(3);
  }
  writeFileSync(counter, String(Number(readFileSync(counter, 'utf8')) + 1));
  await new Promise((resolve) => setImmediate(resolve));
  unlinkSync(marker);
  await releasePidLock(lock);
}
