// Object identifiers (RFC 8474) and save dates (RFC 8514) read from what the Maildir keeps anyway, with no index of
// their own: a message file's base name never changes while the message stays in its folder (flag changes rewrite
// only the info after ':'), it begins with the time the file entered the folder, and a copy's name carries the
// EMAILID of its source (",E=…"), so COPY and MOVE keep the id of the same immutable content.
import { createHash } from 'node:crypto';

/** RFC 8474 §4 objectid: 1-255 of ALPHA / DIGIT / "_" / "-". */
export const OBJECT_ID = /^[A-Za-z0-9_-]{1,255}$/;

/** The form of the ids this store makes (emailIdOf), the only form a ",E=" field is taken in. */
const OWN_ID = /^M[A-Za-z0-9_-]{23}$/;

/**
 * The ",E=" field of a key, when it holds an id in the store's own form: a name another program chose may hold
 * anything, and an id of up to 255 characters carried into a copy's name would pass NAME_MAX (the copy failing).
 */
function carriedId(key: string): string | undefined {
  const at = key.indexOf(',E=');
  if (at < 0) return undefined;
  const end = key.indexOf(',', at + 3);
  const id = key.slice(at + 3, end < 0 ? key.length : end);
  return OWN_ID.test(id) ? id : undefined;
}

/**
 * EMAILID of the message file with this base name in the folder of this UIDVALIDITY (RFC 8474 §5.1): the id its
 * name carries (set when it was copied in), else one made from the folder's UIDVALIDITY (never handed out twice,
 * kept by RENAME) and the name, which is unique within the folder: other programs' names (an mbox converter's "1",
 * "2", … in each folder) need not be unique across folders.
 */
export function emailIdOf(key: string, uidValidity: number): string {
  return carriedId(key) ?? 'M' + createHash('sha256').update(`${uidValidity}/${key}`).digest('base64url').slice(0, 23);
}

/** The ",E=…" suffix that a copy's new base name gets, so the copy keeps the source's EMAILID. */
export function emailIdSuffix(sourceKey: string | undefined, sourceValidity: number): string {
  return sourceKey === undefined ? '' : ',E=' + emailIdOf(sourceKey, sourceValidity);
}

/** How far a name's time may run ahead of the clock (another host's clock writing to a shared volume). */
const AHEAD_MS = 24 * 60 * 60 * 1000;

/**
 * When the message entered this folder (RFC 8514 SAVEDATE): delivery, APPEND and COPY name the file after the
 * time they write it, to the second ("1700000000.M1P2.host"). Undefined for a name that does not start with such
 * a time (another program's: a counter, "1"), or whose time is not yet (a clock far off, a 12-digit number, which
 * would not even fit RFC 3501's 4-digit year).
 */
export function saveDateOf(key: string, now: number): number | undefined {
  const m = /^(\d{9,10})\./.exec(key);
  if (!m) return undefined;
  const t = Number(m[1]) * 1000;
  return t > now + AHEAD_MS ? undefined : t;
}

/**
 * emailIdOf remembered per message: IMAP clients (imapflow) ask EMAILID in every FETCH, and SEARCH EMAILID asks it
 * of every message, each a SHA-256 otherwise. Keyed by the message's meta object, which the folder index keeps one
 * of per message (a flag change makes a new one): the memory is bounded by the messages loaded and goes with them.
 */
export function cachedEmailIds(): (meta: { key?: string }, uidValidity: number) => string | undefined {
  const memo = new WeakMap<object, { of: number; id: string }>();
  return (meta, uidValidity) => {
    if (meta.key === undefined) return undefined;
    const hit = memo.get(meta);
    if (hit?.of === uidValidity) return hit.id;
    const id = emailIdOf(meta.key, uidValidity);
    memo.set(meta, { of: uidValidity, id });
    return id;
  };
}
