// SEARCH and SORT result options: RETURN (MIN MAX ALL COUNT SAVE) parsed (RFC 4731 §3.1, RFC 5267 §3, RFC 5182 §2),
// the ESEARCH response built, and the part of a result the SAVE option keeps for "$".
import { compactSet, str } from './encode.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';

export type ReturnOption = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';
const OPTIONS: readonly ReturnOption[] = ['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE'];

/** Result options asked for; undefined when the command has no RETURN (the classic SEARCH / SORT response). */
export type ReturnOptions = ReadonlySet<ReturnOption>;

/** True when the command text asks for SAVE (a failed SEARCH then empties "$", RFC 5182 §2.1), parsed or not. */
export const asksSave = (rest: string): boolean => /^RETURN \([^)]*\bSAVE\b/i.test(rest);

/**
 * "RETURN" SP "(" [option *(SP option)] ")" SP, when the command starts with it. RFC 4731 §3.1: an empty list means
 * ALL; an option the server does not know is a syntax error (BAD, RFC 4466 §2.6).
 */
export function parseReturn(c: Cursor): ReturnOptions | undefined {
  if (!/^RETURN /i.test(c.rest())) return undefined;
  c.atom();
  c.sp();
  const out = new Set<ReturnOption>();
  c.list(() => {
    const name = c.atom().toUpperCase();
    const option = OPTIONS.find((o) => o === name);
    if (option === undefined) throw new ImapSyntaxError(`unknown RETURN option ${name}`);
    out.add(option);
  });
  c.sp();
  if (out.size === 0) out.add('ALL');
  return out;
}

/**
 * The messages SAVE keeps (RFC 5182 §2.1), and those whose mod-sequences the MODSEQ item covers (RFC 4731 §3.2):
 * with MIN and/or MAX and neither ALL nor COUNT, only those; otherwise the whole result. `hits` are in result order
 * (ascending for SEARCH, sort order for SORT).
 */
export function savedPart<T>(opts: ReturnOptions, hits: readonly T[]): T[] {
  if (opts.has('ALL') || opts.has('COUNT') || !(opts.has('MIN') || opts.has('MAX'))) return [...hits];
  if (hits.length === 0) return [];
  const out: T[] = [];
  if (opts.has('MIN')) out.push(hits[0] as T);
  // one message is MIN and MAX at once: kept once
  if (opts.has('MAX') && !(opts.has('MIN') && hits.length === 1)) out.push(hits[hits.length - 1] as T);
  return out;
}

/** Whether an ESEARCH response is sent: not when SAVE is the only option (RFC 5182 §2.1). */
export const sendsEsearch = (opts: ReturnOptions): boolean => [...opts].some((o) => o !== 'SAVE');

/**
 * "* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] COUNT n [MODSEQ n]" (RFC 4731 §3.1): MIN, MAX and ALL are
 * left out when nothing matched, COUNT never; MIN and MAX are the first and last of the result order.
 */
export function esearchLine(tag: string, uid: boolean, opts: ReturnOptions, hits: readonly number[], modseq: number): string {
  let out = `* ESEARCH (TAG ${str(tag)})${uid ? ' UID' : ''}`;
  if (hits.length > 0) {
    if (opts.has('MIN')) out += ` MIN ${hits[0]}`;
    if (opts.has('MAX')) out += ` MAX ${hits[hits.length - 1]}`;
    // compactSet merges only runs of consecutive ascending numbers: a SORT result keeps its order (RFC 5267 §3.1)
    if (opts.has('ALL')) out += ` ALL ${compactSet(hits)}`;
  }
  if (opts.has('COUNT')) out += ` COUNT ${hits.length}`;
  if (modseq > 0) out += ` MODSEQ ${modseq}`;
  return `${out}\r\n`;
}
