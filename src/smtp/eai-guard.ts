// Non-ASCII in MAIL FROM / RCPT TO paths, judged on the bytes the client sent (RFC 6531).
//
// smtp-server turns A-label domains into U-labels before the gateway sees an address, so whether
// the client itself wrote non-ASCII can only be told from the raw command line.

const decoder = new TextDecoder('utf-8', { fatal: true });

export interface PathRefusal {
  code: number;
  enhanced: string;
  text: string;
}

/** The bytes between the first "<" and the next ">", or undefined when there is no such path. */
function rawPath(command: Buffer): Buffer | undefined {
  const open = command.indexOf(0x3c);
  const close = open < 0 ? -1 : command.indexOf(0x3e, open + 1);
  return close < 0 ? undefined : command.subarray(open + 1, close);
}

/** True when the MAIL FROM command line carries the SMTPUTF8 parameter. */
export function mailHasSmtpUtf8(command: Buffer): boolean {
  const close = command.indexOf(0x3e);
  const params = close < 0 ? '' : command.subarray(close + 1).toString('latin1');
  return /(?:^|\s)SMTPUTF8(?:\s|$)/i.test(params);
}

/**
 * Why a path must be refused, or undefined. RFC 6531 §3.4: a non-ASCII address needs the SMTPUTF8
 * parameter on MAIL, else 553 with X.6.7 (§3.5, "non-ASCII addresses not permitted"); with it, the
 * address MUST be UTF-8 (§3.3), so other 8-bit bytes are a syntax error.
 */
export function refusePathEncoding(command: Buffer, smtputf8: boolean, role: 'sender' | 'recipient'): PathRefusal | undefined {
  const path = rawPath(command);
  if (!path || !path.some((b) => b >= 0x80)) return undefined;
  if (!smtputf8) return { code: 553, enhanced: '5.6.7', text: `Non-ASCII ${role} address not permitted without SMTPUTF8` };
  try {
    decoder.decode(path);
  } catch {
    return { code: 501, enhanced: role === 'sender' ? '5.1.7' : '5.1.3', text: `Bad ${role} address syntax: not UTF-8` };
  }
  return undefined;
}
