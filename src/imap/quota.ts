// Storage quota for IMAP APPEND and COPY: the per-user quota local delivery enforces (mailhost users / default_quota),
// answered with the OVERQUOTA response code (RFC 5530 §3, RFC 9208 §4.3) instead of growing the mailbox past it.
import type { Reply, Session } from './session.ts';

/**
 * Runs `add` (an APPEND or a COPY of `bytes`) if it fits the user's quota, else answers NO [OVERQUOTA] without
 * running it. The check and the addition are one step per user, so two sessions adding at once cannot both pass
 * with room for one; mail delivered meanwhile is not under this lock (local delivery checks the quota on its own).
 * Usage is summed from the store's in-memory indexes, and only for users with a quota.
 */
export async function addWithinQuota<T>(s: Session, bytes: number, add: () => Promise<T>): Promise<{ done: T } | { refused: Reply }> {
  const quota = s.ctx.opts.quotaOf?.(s.user);
  if (quota === undefined || bytes <= 0) return { done: await add() };
  return s.ctx.quotaLocks.run(s.user.toLowerCase(), async () => {
    const usage = await s.ctx.opts.store.usage(s.user);
    if (usage + bytes > quota) return { refused: { status: 'NO', text: `[OVERQUOTA] Quota exceeded (${usage} of ${quota} bytes used, ${bytes} more asked for)` } };
    return { done: await add() };
  });
}
