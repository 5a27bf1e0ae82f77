// Free space on the spool's file system (Postfix's queue_minfree, done per transaction): statfs read at most
// about once a second and cached, so a MAIL command never waits for the file system; exported as a gauge.
import { statfs } from 'node:fs/promises';
import { Gauge, type Registry } from '../metrics/registry.ts';
import type { Logger } from '../util/logger.ts';

/** How old a reading may be before a MAIL command asks for a new one (it is answered with the old one meanwhile). */
export const FREE_SPACE_MAX_AGE_MS = 1000;

/**
 * Postfix's factor (smtpd_space_multf): a message takes room in the spool and again as a bounce or a local copy
 * while the spool still holds it, so 1.5 × its size must be free above the reserve.
 */
export const SPACE_FACTOR = 1.5;

const FREE_BYTES = 'spamgate_queue_free_bytes';
const MIN_FREE_BYTES = 'spamgate_queue_min_free_bytes';

export interface FreeSpace {
  /** Free bytes for spamgate's writes (f_bavail × f_bsize) as last read; undefined when statfs has not answered. */
  freeBytes(): number | undefined;
  /** Reads the file system now (at most one read at a time). */
  refresh(): Promise<void>;
}

export interface FreeSpaceOptions {
  /** A directory on the file system to watch (the spool). */
  dir: string;
  registry: Registry;
  log: Logger;
  /** The reserve of the running config (queue.min_free), exported beside the free bytes for alerts. */
  minFree: () => number;
  /** Milliseconds for the age of a reading (tests may pass a fake). */
  now?: () => number;
}

export async function watchFreeSpace(opts: FreeSpaceOptions): Promise<FreeSpace> {
  const now = opts.now ?? (() => performance.now());
  let free: number | undefined;
  let readAt = -Infinity;
  let reading: Promise<void> | undefined;
  let failing = false;
  // this watcher owns the gauges: each scrape reads the file system when the last reading is stale
  for (const name of [FREE_BYTES, MIN_FREE_BYTES]) opts.registry.removeSingleMetric(name);
  const freeGauge = new Gauge({
    name: FREE_BYTES,
    help: "Free bytes on the spool's file system (for unprivileged writers), read at most about once a second.",
    registers: [opts.registry],
    async collect() {
      if (now() - readAt >= FREE_SPACE_MAX_AGE_MS) await refresh();
    },
  });
  new Gauge({
    name: MIN_FREE_BYTES,
    help: 'The configured reserve (queue.min_free; 0: no guard): below it plus 1.5 times the message size, MAIL gets 452 4.3.1.',
    registers: [opts.registry],
    collect() {
      this.set(opts.minFree());
    },
  });

  const refresh = (): Promise<void> => {
    reading ??= statfs(opts.dir)
      .then(
        (s) => {
          free = s.bavail * s.bsize;
          freeGauge.set(free);
          if (failing) opts.log.info('free space on the spool file system readable again', { dir: opts.dir, free });
          failing = false;
        },
        (err: unknown) => {
          // Unknown space refuses nothing (the write itself still fails safely): said once, not per command.
          if (!failing) opts.log.warn('cannot read free space on the spool file system; not guarding it', { dir: opts.dir, err });
          failing = true;
          free = undefined;
        },
      )
      .finally(() => {
        readAt = now();
        reading = undefined;
      });
    return reading;
  };

  await refresh();
  return {
    freeBytes() {
      if (now() - readAt >= FREE_SPACE_MAX_AGE_MS) void refresh();
      return free;
    },
    refresh,
  };
}

/**
 * What must be free to take a message: the reserve plus 1.5 × its declared SIZE (RFC 1870 §6.1), or × the largest
 * message accepted when the client declared none (it may send that much). 0 when the guard is off (min_free 0).
 */
export function spaceNeeded(minFree: number, declaredSize: number | undefined, maxMessageSize: number): number {
  if (minFree <= 0) return 0;
  return minFree + SPACE_FACTOR * (declaredSize ?? maxMessageSize);
}
