// QRESYNC (RFC 7162 §3.2): the SELECT/EXAMINE (QRESYNC (…)) parameter and the VANISHED (EARLIER) sets it and
// UID FETCH (… VANISHED) answer with. Where the store's expunge history reaches back to the client's mod-sequence,
// the UIDs told are those expunged since; where it does not (a log started or trimmed later), those of the range
// asked about (below UIDNEXT) that no message has now: a superset, which the client ignores where it knew of no
// such message (§3.2.5.1 allows it).
import type { MessageMeta } from '../store/mailbox-store.ts';
import { compactSet, inRanges, parseSequenceSet, type SeqRange } from './encode.ts';
import { modseqArg } from './condstore.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';

export interface QresyncParam {
  uidValidity: number;
  /** The client's last known HIGHESTMODSEQ. */
  modseq: number;
  /** known-uids: the UIDs the client asks about; undefined: all. */
  known?: SeqRange[];
}

/** UID sets the client may send: '*' is the largest UID there can be (RFC 3501 §9), as they may name any. */
export const ANY_UID = 4294967295;

/** "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")" (RFC 7162 §3.2.5). */
export function parseQresyncParam(c: Cursor): QresyncParam {
  c.expect('(');
  const uidValidity = c.number();
  if (uidValidity === 0) throw new ImapSyntaxError('UIDVALIDITY must be positive');
  c.sp();
  const modseq = modseqArg(c, false);
  let known: SeqRange[] | undefined;
  if (c.tryChar(' ')) {
    if (c.peek() !== '(') {
      known = parseSequenceSet(c.listChars(), ANY_UID);
      if (c.tryChar(' ') && c.peek() !== '(') throw new ImapSyntaxError('expected seq-match-data');
    }
    // seq-match-data (a hint for servers without expunge history; ours needs none): checked, then left aside
    if (c.peek() === '(') {
      c.expect('(');
      parseSequenceSet(c.listChars(), ANY_UID);
      c.sp();
      parseSequenceSet(c.listChars(), ANY_UID);
      c.expect(')');
    }
  }
  c.expect(')');
  return { uidValidity, modseq, ...(known ? { known } : {}) };
}

/**
 * UIDs in `ranges` (all when undefined), at most `top`, that are not in `present` (sorted), as a compact set; ''
 * when none. Work and output grow with the ranges and the UIDs present, never with the numbers in the ranges.
 */
export function missingUids(present: readonly number[], ranges: readonly SeqRange[] | undefined, top: number): string {
  const out: string[] = [];
  let j = 0;
  for (const [from, to] of ranges ?? [[1, top] as SeqRange]) {
    let a = Math.max(1, from);
    const b = Math.min(to, top);
    if (a > b) continue;
    while (j < present.length && (present[j] as number) < a) j++;
    while (a <= b) {
      const next = j < present.length ? (present[j] as number) : Infinity;
      if (next > b) {
        out.push(a === b ? `${a}` : `${a}:${b}`);
        break;
      }
      if (next > a) out.push(next - 1 === a ? `${a}` : `${a}:${next - 1}`);
      a = next + 1;
      j++;
    }
  }
  return out.join(',');
}

/**
 * The VANISHED (EARLIER) set (RFC 7162 §3.2.5.1, §3.2.6): the UIDs of `history` (the store's expunged-since list,
 * sorted) in the ranges, at most `top`, that `present` (sorted) lacks; without a history, every UID there it lacks.
 */
export function vanishedSet(present: readonly number[], ranges: readonly SeqRange[] | undefined, top: number, history: readonly number[] | undefined): string {
  if (!history) return missingUids(present, ranges, top);
  const out: number[] = [];
  let j = 0;
  for (const uid of history) {
    if (uid > top) break;
    while (j < present.length && (present[j] as number) < uid) j++;
    if (present[j] === uid || (ranges && !inRanges(ranges, uid))) continue;
    if (out[out.length - 1] !== uid) out.push(uid);
  }
  return compactSet(out);
}

/**
 * What SELECT/EXAMINE (QRESYNC …) tells after the usual responses when the UIDVALIDITY is the client's
 * (RFC 7162 §3.2.5.1): VANISHED (EARLIER) for messages gone, then FETCH (UID FLAGS MODSEQ) for those changed since.
 */
export function qresyncResponses(p: QresyncParam, list: readonly MessageMeta[], uidNext: number, recent: (uid: number) => boolean, history?: readonly number[]): string {
  const uids = list.map((m) => m.uid);
  const gone = vanishedSet(uids, p.known, uidNext - 1, history);
  let out = gone === '' ? '' : `* VANISHED (EARLIER) ${gone}\r\n`;
  for (let i = 0; i < list.length; i++) {
    const m = list[i] as MessageMeta;
    if ((m.modseq ?? 0) <= p.modseq || (p.known && !inRanges(p.known, m.uid))) continue;
    const flags = recent(m.uid) ? [...m.flags, '\\Recent'] : m.flags;
    out += `* ${i + 1} FETCH (UID ${m.uid} FLAGS (${flags.join(' ')}) MODSEQ (${m.modseq ?? 0}))\r\n`;
  }
  return out;
}

/** "* VANISHED <set>" for UIDs expunged while selected (RFC 7162 §3.2.10), in place of EXPUNGE responses. */
export function vanished(uids: number[]): string {
  return uids.length === 0 ? '' : `* VANISHED ${compactSet(uids.sort((a, b) => a - b))}\r\n`;
}
