// UIDVALIDITY values for new folders: the time in seconds, but always above every value handed out
// before, also across restarts (RFC 3501 §2.3.1.1: a mailbox made again must not get a value it had).
// Many folders made in one second run ahead of the clock; without the high-water mark kept on disk, a
// restart went back to the clock and a deleted-and-recreated folder could get its old value again.
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../util/atomic-file.ts';
import type { Clock } from '../util/clock.ts';

/** In the store's root, beside the domain directories (a domain name never starts with a dot). */
export const UIDVALIDITY_FILE = '.uidvalidity';

export class UidValidityMark {
  private last: number | undefined;

  constructor(
    private readonly file: string,
    private readonly clock: Clock,
    /** The store's fsync setting: off where the Maildir itself is not synced (tests, queue.fsync false). */
    private readonly fsync = true,
  ) {}

  next(): number {
    const last = this.last ?? this.read();
    const value = Math.max(Math.floor(this.clock.now() / 1000), last + 1);
    this.last = value;
    // Written before the value is used; if it cannot be (read-only disk), the folder cannot be made either.
    writeFileAtomicSync(this.file, `${value}\n`, { mode: 0o600, fsync: this.fsync });
    return value;
  }

  private read(): number {
    try {
      const n = Number(readFileSync(this.file, 'utf8').trim());
      return Number.isSafeInteger(n) && n > 0 && n < 2 ** 32 ? n : 0;
    } catch {
      return 0;
    }
  }
}
