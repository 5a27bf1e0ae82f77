// The unique ids the Sieve duplicate test (RFC 7352) has seen, per user: one JSON file per user in
// <data_dir>/sieve-duplicates/, rewritten atomically (a crash may forget the last ids, never damage the file),
// each entry a hash of handle and id with its expiry, at most MAX_ENTRIES (expired ones go first, then those
// expiring soonest). Loaded before a script runs; the ids it saw are recorded once the message is delivered,
// with the delivery (queue id) that recorded them: a retry of that same delivery (an alias member that failed for
// a while, a redirect that could not be queued, a crash before the queue marked it done) is no earlier message,
// so its run sees what the first attempt saw rather than a duplicate of itself.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SieveDuplicates } from '../sieve/context.ts';
import type { DuplicateRecord } from '../sieve/execute.ts';
import { KeyedMutex } from '../store/mutex.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';

/** Ids remembered per user. */
export const MAX_DUPLICATE_ENTRIES = 10_000;
/** A bigger file is not read (a wrong file put there): the memory starts again. */
const MAX_FILE_BYTES = 2 * 1024 * 1024;

export interface SieveDuplicateStore {
  /**
   * The ids seen before, as the executor asks of them; those recorded by `deliveryId` itself (an earlier attempt
   * at this very delivery) are not. A file missing or damaged is an empty memory.
   */
  load(user: string, deliveryId?: string): Promise<SieveDuplicates>;
  /**
   * RFC 7352 §3: the ids a delivered message's run saw. An entry still live keeps its expiry unless the test
   * had :last (§3.4: the period then starts again with this message).
   */
  record(user: string, records: readonly DuplicateRecord[], nowMs: number, deliveryId?: string): Promise<void>;
}

export function duplicatesFile(dataDir: string, user: string): string {
  return path.join(dataDir, 'sieve-duplicates', `${user}.json`);
}

/** The handle and id hashed: fixed-size keys whatever the header held. */
function keyOf(handle: string, id: string): string {
  return createHash('sha256').update(handle).update('\0').update(id).digest('base64url').slice(0, 32);
}

/** The delivery that recorded an entry, hashed (fixed size, no queue id in the file). */
function deliveryTag(deliveryId: string): string {
  return createHash('sha256').update(deliveryId).digest('base64url').slice(0, 12);
}

/** An id's expiry, and the delivery that recorded it (absent: unknown, as in files written before). */
interface Entry {
  expires: number;
  by?: string;
}

async function readEntries(file: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  try {
    const text = await readFile(file, 'utf8');
    if (text.length > MAX_FILE_BYTES) return out;
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return out;
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v === 'number' && Number.isFinite(v)) out.set(k, { expires: v });
      else if (Array.isArray(v) && typeof v[0] === 'number' && Number.isFinite(v[0]) && typeof v[1] === 'string') out.set(k, { expires: v[0], by: v[1] });
    }
  } catch {
    // missing or damaged: nothing remembered
  }
  return out;
}

export function createSieveDuplicateStore(dataDir: string, fsync: boolean): SieveDuplicateStore {
  const perUser = new KeyedMutex();
  return {
    async load(user, deliveryId) {
      const entries = await readEntries(duplicatesFile(dataDir, user));
      const self = deliveryId === undefined ? undefined : deliveryTag(deliveryId);
      return {
        seen: (handle, id, _seconds, nowMs) => {
          const e = entries.get(keyOf(handle, id));
          return e !== undefined && e.expires > nowMs && (self === undefined || e.by !== self);
        },
      };
    },
    record(user, records, nowMs, deliveryId) {
      if (!records.length) return Promise.resolve();
      return perUser.run(user, async () => {
        const file = duplicatesFile(dataDir, user);
        const entries = await readEntries(file);
        const by = deliveryId === undefined ? undefined : deliveryTag(deliveryId);
        for (const r of records) {
          const key = keyOf(r.handle, r.id);
          const known = entries.get(key);
          const live = known !== undefined && known.expires > nowMs;
          if (live && !r.last) continue;
          // a live entry renewed (:last) stays the first delivery's: a retry of this one is still a duplicate of it
          const owner = live ? known.by : by;
          entries.set(key, { expires: nowMs + r.seconds * 1000, ...(owner !== undefined ? { by: owner } : {}) });
        }
        const live = [...entries].filter(([, e]) => e.expires > nowMs).sort((a, b) => a[1].expires - b[1].expires);
        const kept = live.slice(Math.max(0, live.length - MAX_DUPLICATE_ENTRIES)).map(([k, e]): [string, number | [number, string]] => [k, e.by === undefined ? e.expires : [e.expires, e.by]]);
        await writeFileAtomic(file, JSON.stringify(Object.fromEntries(kept)), { mode: 0o600, fsync });
      });
    },
  };
}
