// Maildir tmp/ housekeeping: a file an interrupted delivery left in tmp/ is removed once it is older than
// 36 hours, as the Maildir convention asks (no writer keeps a tmp/ file that long). Only regular files are
// touched, and one sweep looks at a bounded number of entries.
import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const TMP_MAX_AGE_MS = 36 * 3600_000;
const MAX_ENTRIES_PER_SWEEP = 10_000;

/** Removes stale files from `<folder>/tmp`; returns how many. A missing tmp/ is not an error. */
export async function sweepStaleTmp(folder: string, now = Date.now(), maxAgeMs = TMP_MAX_AGE_MS): Promise<number> {
  const dir = join(folder, 'tmp');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names.slice(0, MAX_ENTRIES_PER_SWEEP)) {
    const file = join(dir, name);
    try {
      const st = await lstat(file);
      if (!st.isFile() || now - st.mtimeMs <= maxAgeMs) continue;
      await unlink(file);
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // gone meanwhile: fine
    }
  }
  return removed;
}
