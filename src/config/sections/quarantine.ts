// Config section `quarantine:` — where messages past a recipient's `quarantine` threshold are kept and for how long.
import path from 'node:path';
import { z } from 'zod';
import { duration, size } from '../units.ts';
import { digestSection } from './quarantine-digest.ts';

/** data_dir's directories of the spool, the mail store and the vacation replies (spoolDir, mailRoot, vacationDir). */
const RESERVED = ['spool', 'mail', 'vacation'];

export const quarantineSection = z
  .strictObject({
    /** Directory of the quarantined messages, relative to data_dir (and inside it). */
    dir: z
      .string()
      .min(1)
      .default('quarantine')
      .refine((d) => !path.isAbsolute(d) && !path.normalize(d).split(/[\\/]/).includes('..') && path.normalize(d) !== '.', {
        message: 'expected a directory inside data_dir (a relative path without ..)',
      })
      // the spool loads its msg/ files (the quarantine's file format) and empties tmp/ at start, the mail store and
      // vacation hold users' files: a quarantine there would deliver, lose or mix in what it keeps
      .refine((d) => !RESERVED.includes(path.normalize(d).split(/[\\/]/)[0] ?? ''), {
        message: `expected a directory of its own: not spool, mail or vacation, nor inside them (spamgate's other data there)`,
      }),
    /** A message older than this is deleted by the sweep (at start and periodically). */
    max_age: duration()
      .prefault('30d')
      .refine((ms) => ms >= 1000, { message: 'expected a duration of at least 1s' }),
    /** Total bytes kept at most; past it the oldest messages are deleted first. 0: no bound. */
    max_size: size().prefault(1024 ** 3),
    /** Periodic digests to the recipients of what is held for them, with release links. */
    digest: digestSection,
  })
  .prefault({});

export type QuarantineConfig = z.output<typeof quarantineSection>;

/** The quarantine directory of a data directory. */
export function quarantineDir(dataDir: string, config: QuarantineConfig): string {
  return path.join(dataDir, config.dir);
}
