// Values made from the header fields the store caches, kept per selected mailbox by UID in the session context's
// caches (envelope-cache.ts): the HeaderKeys SORT and THREAD order by (message-keys.ts) and the THREADID FETCH and
// SEARCH tell (thread-id.ts). A hit opens no message file; misses are asked of the store's header cache at once.
import type { HeaderField, MessageIds, MessageMeta } from '../store/mailbox-store.ts';
import type { UidTable } from './envelope-cache.ts';
import { headerKeys, type HeaderKeys } from './message-keys.ts';
import type { Selected, Session } from './session.ts';
import { ownThreadId, rootThreadId, threadRoot } from './thread-id.ts';

/** Misses asked of the store at once: the fields of each are garbage again before the next slice. */
const MISS_SLICE = 2048;

/** The values of these UIDs; a UID expunged meanwhile is left out. */
async function fromFields<V>(s: Session, sel: Selected, table: UidTable<V>, uids: readonly number[], make: (fields: readonly HeaderField[]) => V): Promise<Map<number, V>> {
  const out = new Map<number, V>();
  const misses: number[] = [];
  for (const u of uids) {
    const hit = table.get(u);
    if (hit === undefined) misses.push(u);
    else out.set(u, hit);
  }
  const { store } = s.ctx.opts;
  for (let i = 0; i < misses.length; i += MISS_SLICE) {
    const slice = misses.slice(i, i + MISS_SLICE);
    const fields = store.headerFields ? await store.headerFields(s.user, sel.name, slice) : await Promise.all(slice.map((u) => readFields(s, sel, u)));
    for (let j = 0; j < slice.length; j++) {
      const f = fields[j];
      if (f === undefined) continue; // expunged meanwhile
      const value = make(f);
      table.set(slice[j] as number, value);
      out.set(slice[j] as number, value);
    }
  }
  return out;
}

/** SORT and THREAD keys of these UIDs. */
export function headerKeysOf(s: Session, sel: Selected, uids: readonly number[]): Promise<Map<number, HeaderKeys>> {
  return fromFields(s, sel, s.ctx.sortKeys.table(s.user, sel.name, sel.uidValidity), uids, headerKeys);
}

/** THREADID of these UIDs (RFC 8474 §5.2), for the session's user; `metas` gives the EMAILID of a message naming no root. */
export async function threadIdsOf(s: Session, sel: Selected, uids: readonly number[], metas: ReadonlyMap<number, MessageMeta>, ids: MessageIds | undefined): Promise<Map<number, string>> {
  const table = s.ctx.threadRoots.table(s.user, sel.name, sel.uidValidity);
  const roots = await fromFields(s, sel, table, uids, (f) => {
    const root = threadRoot(f);
    return root === undefined ? '' : rootThreadId(root, s.user);
  });
  const out = new Map<number, string>();
  for (const [u, id] of roots) {
    if (id !== '') out.set(u, id);
    else {
      const meta = metas.get(u);
      if (meta) out.set(u, ownThreadId(ids?.emailId(meta) ?? 'U' + u)); // as FETCH EMAILID names it (fetch.ts)
    }
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
