// Storage quota over IMAP: APPEND and COPY within the per-user quota local delivery enforces (mailhost users /
// default_quota), answered with the OVERQUOTA response code (RFC 5530 §3, RFC 9208 §4.3) instead of growing the
// mailbox past it; and the QUOTA extension's GETQUOTAROOT / GETQUOTA (RFC 9208), so clients can show the usage.
import { mailboxArg } from './commands-mailbox.ts';
import { mailboxToWire } from './mailbox-name.ts';
import type { Cursor } from './parser.ts';
import type { Handler, Reply, Session } from './session.ts';

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

/** The one quota root a user with a quota has: all their mailboxes share it (RFC 9208 §3.2). */
const ROOT = '""';

/** RFC 9208 §5.1: STORAGE is counted in units of 1024 octets (used rounded up, the limit down). */
function storageResponse(usage: number, quota: number): string {
  return `* QUOTA ${ROOT} (STORAGE ${Math.ceil(usage / 1024)} ${Math.floor(quota / 1024)})\r\n`;
}

/**
 * GETQUOTAROOT and GETQUOTA (RFC 9208 §4.1.1-2): the user's quota, one root "" over all their mailboxes; a user
 * without a quota has no root. SETQUOTA is not offered (no QUOTASET capability): quotas are the administrator's.
 */
export const quotaHandlers: Record<string, Handler> = {
  async GETQUOTAROOT(s, _tag, c: Cursor) {
    if (s.state !== 'auth' && s.state !== 'selected') return { status: 'BAD', text: 'Log in first' };
    const name = mailboxArg(c, s.utf8);
    c.end();
    // RFC 9208 §4.1.2: the mailbox must exist (status() answers NO [NONEXISTENT] otherwise).
    const st = await s.ctx.opts.store.status(s.user, name);
    const quota = s.ctx.opts.quotaOf?.(s.user);
    s.send(`* QUOTAROOT ${mailboxToWire(st.name, s.utf8)}${quota === undefined ? '' : ` ${ROOT}`}\r\n`);
    if (quota !== undefined) s.send(storageResponse(await s.ctx.opts.store.usage(s.user), quota));
    return { status: 'OK', text: 'GETQUOTAROOT completed' };
  },
  async GETQUOTA(s, _tag, c: Cursor) {
    if (s.state !== 'auth' && s.state !== 'selected') return { status: 'BAD', text: 'Log in first' };
    const root = c.astring();
    c.end();
    const quota = s.ctx.opts.quotaOf?.(s.user);
    // RFC 9208 §4.1.1: a quota root that does not exist is answered NO.
    if (root !== '' || quota === undefined) return { status: 'NO', text: '[NONEXISTENT] No such quota root' };
    s.send(storageResponse(await s.ctx.opts.store.usage(s.user), quota));
    return { status: 'OK', text: 'GETQUOTA completed' };
  },
};
