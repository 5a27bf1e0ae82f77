// Storage quota for IMAP APPEND and COPY: the per-user quota local delivery enforces (mailhost users / default_quota),
// answered with the OVERQUOTA response code (RFC 5530 §3, RFC 9208 §4.3) instead of growing the mailbox past it.
import type { Reply, Session } from './session.ts';

/**
 * NO [OVERQUOTA] when adding `bytes` would take the user past the quota; undefined when it fits or there is none.
 * Usage is summed from the store's in-memory indexes only for users with a quota. Two sessions adding at the same
 * moment may each pass (a soft limit, as a quota filesystem's grace); the next command sees the sum.
 */
export async function overQuota(s: Session, bytes: number): Promise<Reply | undefined> {
  const quota = s.ctx.opts.quotaOf?.(s.user);
  if (quota === undefined || bytes <= 0) return undefined;
  const usage = await s.ctx.opts.store.usage(s.user);
  if (usage + bytes <= quota) return undefined;
  return { status: 'NO', text: `[OVERQUOTA] Quota exceeded (${usage} of ${quota} bytes used, ${bytes} more asked for)` };
}
