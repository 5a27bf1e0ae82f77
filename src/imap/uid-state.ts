// A selected session's per-UID bookkeeping, built in O(1) at SELECT from what the store handed out (sorted by UID):
// the flags last told to the client (RFC 3501 §7.4.1: changes by others are announced as FETCH FLAGS), and the
// UIDs that are \Recent for this session (RFC 3501 §2.3.2). Only later changes cost a map entry each.
import type { MessageMeta } from '../store/mailbox-store.ts';
import { flagKey } from './session.ts';

/** Index of `uid` in a UID-ordered array (of UIDs, or of metas through `uidAt`), or -1. */
function find<T>(sorted: readonly T[], uid: number, uidAt: (x: T) => number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const u = uidAt(sorted[mid] as T);
    if (u === uid) return mid;
    if (u < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
const metaUid = (m: MessageMeta): number => m.uid;
const self = (u: number): number => u;

/** Flags last told to the client per UID, as flagKey() strings: the SELECT-time list unless told otherwise since. */
export class ToldFlags {
  /** Told since SELECT; null once the message is gone from the session's view. */
  private readonly since = new Map<number, string | null>();

  constructor(private readonly baseline: readonly MessageMeta[]) {}

  get(uid: number): string | undefined {
    const told = this.since.get(uid);
    if (told !== undefined) return told ?? undefined;
    const at = find(this.baseline, uid, metaUid);
    return at < 0 ? undefined : flagKey((this.baseline[at] as MessageMeta).flags);
  }

  set(uid: number, key: string): void {
    this.since.set(uid, key);
  }

  delete(uid: number): void {
    this.since.set(uid, null);
  }
}

/** A set of UIDs over a sorted base list: membership by binary search, changes kept aside. */
export class UidSet {
  private readonly added = new Set<number>();
  private readonly removed = new Set<number>();

  constructor(private readonly base: readonly number[]) {}

  get size(): number {
    return this.base.length - this.removed.size + this.added.size;
  }

  has(uid: number): boolean {
    if (this.added.has(uid)) return true;
    return !this.removed.has(uid) && find(this.base, uid, self) >= 0;
  }

  add(uid: number): void {
    if (this.has(uid)) return;
    if (this.removed.delete(uid)) return;
    this.added.add(uid);
  }

  delete(uid: number): void {
    if (this.added.delete(uid)) return;
    if (find(this.base, uid, self) >= 0) this.removed.add(uid);
  }
}
