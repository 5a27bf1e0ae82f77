// The sync point of a selected session: mailbox changes by others reach the client as untagged EXPUNGE, EXISTS,
// RECENT and FETCH FLAGS responses (RFC 3501 §5.2, §7.3.1, §7.4.1); newly seen mail is claimed as \Recent.
import type { MessageMeta } from '../store/mailbox-store.ts';
import { flagsResponses, newKeywords } from './flags-response.ts';
import { modseqItem } from './condstore.ts';
import { vanished } from './qresync.ts';
import { listSelected } from './selection.ts';
import { flagKey, type Session } from './session.ts';

export async function syncSelected(s: Session, allowExpunge: boolean, force: boolean): Promise<void> {
  const sel = s.sel;
  if (!sel) return;
  const list = await listSelected(s, sel, false);
  if (list === sel.listRef && !sel.dirty && !force && !(allowExpunge && sel.expungeOwed)) return;
  sel.dirty = false;
  sel.listRef = list;
  sel.metas = new Map(list.map((m) => [m.uid, m]));
  const out: string[] = [];
  if (allowExpunge && sel.uids.some((u) => !sel.metas.has(u))) {
    const keep: number[] = [];
    const gone: number[] = [];
    sel.uids.forEach((u) => {
      if (sel.metas.has(u)) keep.push(u);
      else {
        // RFC 7162 §3.2.10: once QRESYNC is on, VANISHED (UIDs) replaces EXPUNGE
        if (s.qresync) gone.push(u);
        else out.push(`* ${keep.length + 1} EXPUNGE\r\n`);
        sel.flags.delete(u);
        sel.recent.delete(u);
      }
    });
    if (gone.length > 0) out.push(vanished(gone));
    sel.uids = keep;
    sel.expungeOwed = false;
  } else if (!allowExpunge && sel.uids.some((u) => !sel.metas.has(u))) {
    // expunges withheld here (no EXPUNGE during FETCH, STORE, SEARCH: RFC 3501 §7.4.1) are owed at the next
    // point that allows them; without this the next sync would see nothing new and never send them
    sel.expungeOwed = true;
  }
  const maxUid = sel.uids[sel.uids.length - 1] ?? 0;
  const fresh = list.filter((m) => m.uid > maxUid);
  if (fresh.length > 0) {
    const top = (fresh[fresh.length - 1] as MessageMeta).uid;
    // RECENT counts messages of the view (RFC 3501 §7.3.2): one the claim took that this list does not show yet
    // waits until it is seen (and is forgotten if it is expunged first)
    if (s.rev2) {
      // RFC 9051 Appendix E: no \Recent in IMAP4rev2; nothing claimed, so rev1 sessions still see the mail as recent
    } else if (!sel.readOnly)
      for (const u of await s.ctx.opts.store.claimRecent(s.user, sel.name)) {
        if (u <= top) sel.recent.add(u);
        else (sel.recentAhead ??= new Set()).add(u);
      }
    // EXAMINE claims nothing, yet is the first told of mail no session has claimed (RFC 3501 §2.3.2), as at EXAMINE
    else for (const m of fresh) if (m.recent) sel.recent.add(m.uid);
    sel.uidNext = Math.max(sel.uidNext, top + 1);
    for (const m of fresh) {
      if (sel.recentAhead?.delete(m.uid)) sel.recent.add(m.uid);
      sel.uids.push(m.uid);
      sel.flags.set(m.uid, flagKey(m.flags));
    }
    if (sel.recentAhead) for (const u of sel.recentAhead) if (u <= top) sel.recentAhead.delete(u);
    out.push(`* ${sel.uids.length} EXISTS\r\n`);
    if (!s.rev2) out.push(`* ${sel.recent.size} RECENT\r\n`);
  }
  const fetches: string[] = [];
  const changed: MessageMeta[] = [...fresh];
  sel.uids.forEach((u, i) => {
    const m = sel.metas.get(u);
    if (!m) return;
    const now = flagKey(m.flags);
    if (sel.flags.get(u) !== now) {
      sel.flags.set(u, now);
      changed.push(m);
      // RFC 7162 §3.1: with CONDSTORE on, a change by an external agent is told with its MODSEQ too
      fetches.push(`* ${i + 1} FETCH (UID ${u} FLAGS (${[...m.flags, ...(sel.recent.has(u) ? ['\\Recent'] : [])].join(' ')})${modseqItem(s, m.modseq)})\r\n`);
    }
  });
  // a keyword another session brought in is named in FLAGS before a message shows it (RFC 3501 §7.2.6)
  if (newKeywords(changed, sel.keywords)) out.push(flagsResponses(sel.keywords, sel.readOnly));
  out.push(...fetches);
  if (out.length > 0) await s.sendAsync(out.join(''));
}
