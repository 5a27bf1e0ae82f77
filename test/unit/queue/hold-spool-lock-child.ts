// Child process for the spool lock wait test: takes the spool's lock file as a spamgate command would, prints
// "held", keeps it for the given milliseconds, releases it and exits. Its argv names the command it stands for
// ("queue" or "serve"), which is what a starting serve looks at.
import { releasePidLock, takePidLock } from '../../../src/util/pid-lock.ts';

const [lock, ms] = process.argv.slice(2);
if (!lock || !ms) throw new Error('usage: hold-spool-lock-child.ts LOCK_FILE MS queue|serve');
const r = await takePidLock(lock);
if (!r.ok) throw new Error(`lock held by ${r.pid}`);
process.stdout.write('held\n');
await new Promise((resolve) => setTimeout(resolve, Number(ms)));
await releasePidLock(lock);
