// The ESMTP parameters the next-hop client puts on MAIL FROM and RCPT TO: SIZE and BODY (RFC 1870,
// RFC 6152), SMTPUTF8 (RFC 6531) and the sender's DSN requests (RFC 3461, RFC 6533), each only when
// the next hop offers the extension.
import type { DsnParameters, NextHopReply, RecipientDsnRequest } from '../queue/types.ts';
import { headerEnd } from './message-view.ts';
import { encodeUtf8AddrXtext } from './utf8-addr.ts';

/** RFC 3461 §4: xtext keeps "!".."~" except "+" and "="; anything else becomes "+" and two upper-case hex digits. */
export function xtextEncode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** " SIZE=… BODY=8BITMIME RET=… ENVID=…" for MAIL FROM (leading space; empty when there is nothing to say). */
export function mailParameters(extensions: ReadonlySet<string>, message: Buffer, dsn: DsnParameters | undefined): string {
  let params = extensions.has('SIZE') ? ` SIZE=${message.length}` : '';
  if (extensions.has('8BITMIME') && message.some((b) => b > 127)) params += ' BODY=8BITMIME';
  // RFC 6531 §3.4: a message that came with SMTPUTF8 (a notice about one, too: RFC 6533 §4) goes on with it.
  if (extensions.has('SMTPUTF8') && dsn?.smtputf8) params += ' SMTPUTF8';
  // RFC 3461 §5.2.1: RET and ENVID go on unchanged, and only when the sender gave them.
  if (extensions.has('DSN') && dsn) {
    if (dsn.ret) params += ` RET=${dsn.ret}`;
    if (dsn.envid !== undefined) params += ` ENVID=${xtextEncode(dsn.envid)}`;
  }
  return params;
}

/** " NOTIFY=… ORCPT=…" for one RCPT TO (RFC 3461 §5.2.1: as the sender gave them), or ''. */
export function rcptParameters(extensions: ReadonlySet<string>, request: RecipientDsnRequest | undefined): string {
  if (!extensions.has('DSN') || !request) return '';
  let params = request.notify?.length ? ` NOTIFY=${request.notify.join(',')}` : '';
  const semi = request.orcpt?.indexOf(';') ?? -1;
  if (request.orcpt !== undefined && semi > 0) {
    // RFC 3461 §4.2: addr-type ";" xtext — the type is an atom, only the address is encoded; the
    // RFC 6533 §3 utf-8 type goes as utf-8-addr-xtext, which is 7-bit and needs no SMTPUTF8.
    const type = request.orcpt.slice(0, semi);
    const addr = request.orcpt.slice(semi + 1);
    params += ` ORCPT=${type};${type.toLowerCase() === 'utf-8' ? encodeUtf8AddrXtext(addr) : xtextEncode(addr)}`;
  }
  return params;
}

/**
 * Why a message that came with SMTPUTF8 cannot go to a next hop without it (RFC 6531 §3.2), or undefined
 * when it does not need it after all: a non-ASCII envelope address (5.6.7) or non-ASCII header fields
 * (5.6.9, RFC 6531 §3.6). A UTF-8 body alone only needs 8BITMIME.
 */
export function smtpUtf8Refusal(from: string, rcptTo: readonly string[], message: Buffer): NextHopReply | undefined {
  if ([from, ...rcptTo].some((a) => /[^\x00-\x7f]/.test(a))) {
    return { code: 553, enhanced: '5.6.7', text: 'the next hop does not offer SMTPUTF8, which this message\'s non-ASCII address needs' };
  }
  const head = message.subarray(0, /^\r?\n/.test(message.toString('latin1', 0, 2)) ? 0 : headerEnd(message));
  if (head.some((b) => b > 0x7f)) return { code: 550, enhanced: '5.6.9', text: 'the next hop does not offer SMTPUTF8, which this message\'s UTF-8 header fields need' };
  return undefined;
}
