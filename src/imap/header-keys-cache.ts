// The per-message HeaderKeys (message-keys.ts) of a selected mailbox by UID: from the session context's sortKeys cache,
// else made from the store's cached header fields (and kept). SORT and THREAD order by them, FETCH THREADID tells the
// thread they hold; on a cache hit no message file is opened.
import type { HeaderField } from '../store/mailbox-store.ts';
import { headerKeys, type HeaderKeys } from './message-keys.ts';
import type { Selected, Session } from './session.ts';

/** The keys of these UIDs (at most a slice's worth: the caller bounds it); a UID expunged meanwhile is left out. */
export async function headerKeysOf(s: Session, sel: Selected, uids: readonly number[]): Promise<Map<number, HeaderKeys>> {
  const table = s.ctx.sortKeys.table(s.user, sel.name, sel.uidValidity);
  const out = new Map<number, HeaderKeys>();
  const misses: number[] = [];
  for (const u of uids) {
    const hit = table.get(u);
    if (hit === undefined) misses.push(u);
    else out.set(u, hit);
  }
  if (misses.length === 0) return out;
  const { store } = s.ctx.opts;
  const fields = store.headerFields ? await store.headerFields(s.user, sel.name, misses) : await Promise.all(misses.map((u) => readFields(s, sel, u)));
  for (let j = 0; j < misses.length; j++) {
    const f = fields[j];
    if (f === undefined) continue; // expunged meanwhile
    const keys = headerKeys(f, s.user);
    table.set(misses[j] as number, keys);
    out.set(misses[j] as number, keys);
  }
  return out;
}

/** A store without a header cache: the header block read from the message (fields as latin1 code units, as cached). */
async function readFields(s: Session, sel: Selected, uid: number): Promise<HeaderField[] | undefined> {
  const raw = await s.ctx.opts.store.read(s.user, sel.name, uid).catch(() => undefined);
  if (!raw) return undefined;
  const end = raw.indexOf('\r\n\r\n');
  const out: HeaderField[] = [];
  for (const line of raw.subarray(0, end < 0 ? raw.length : end).toString('latin1').split(/\r?\n(?![ \t])/)) {
    const colon = line.indexOf(':');
    if (colon > 0) out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).replace(/\r?\n/g, '').trim()]);
  }
  return out;
}
