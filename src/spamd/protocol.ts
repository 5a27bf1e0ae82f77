// The SPAMC/SPAMD protocol's words: commands, the sysexits.h codes of the response line, and the response
// framing. Reference: SpamAssassin's spamd/PROTOCOL ("The SpamAssassin Network Protocol", 3.4 / 4.0).

export const COMMANDS = ['CHECK', 'SYMBOLS', 'REPORT', 'REPORT_IFSPAM', 'PROCESS', 'HEADERS', 'PING', 'SKIP', 'TELL'] as const;
export type Command = (typeof COMMANDS)[number];

/** Commands that judge a message and so carry one (Content-length required). */
export const SCAN_COMMANDS: readonly Command[] = ['CHECK', 'SYMBOLS', 'REPORT', 'REPORT_IFSPAM', 'PROCESS', 'HEADERS'];

export const isCommand = (s: string): s is Command => (COMMANDS as readonly string[]).includes(s);

/** sysexits.h, as spamd answers with them. */
export const EX = {
  OK: 0,
  USAGE: 64,
  DATAERR: 65,
  NOUSER: 67,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  IOERR: 74,
  TEMPFAIL: 75,
  PROTOCOL: 76,
  NOPERM: 77,
  TIMEOUT: 79,
} as const;

export interface ErrorReply {
  code: (typeof EX)[keyof typeof EX];
  text: string;
}

/**
 * spamd/PROTOCOL: "If the response code is not 0, then the processed message will not be sent, and the socket
 * will be closed after the first line is sent." spamd writes its errors as protocol version 1.0.
 */
export function errorLine(e: ErrorReply): Buffer {
  return Buffer.from(`SPAMD/1.0 ${e.code} ${e.text.replace(/[\r\n]+/g, ' ')}\r\n`, 'latin1');
}

/** A malformed request: spamd's "Bad header line" with EX_PROTOCOL (the offending text shortened and made printable). */
export function badHeader(what: string): ErrorReply {
  return { code: EX.PROTOCOL, text: `Bad header line: ${what.replace(/[^\x20-\x7e]/g, '?').slice(0, 100)}` };
}

/** spamd/PROTOCOL: PING answers "SPAMD/1.5 0 PONG" and nothing more. */
export const PONG = Buffer.from('SPAMD/1.5 0 PONG\r\n', 'latin1');

/** Score and threshold as SpamAssassin prints them: one decimal. */
export function formatScore(n: number): string {
  return (Math.round(n * 10) / 10).toFixed(1);
}

/** spamd/PROTOCOL: "Spam: True ; 15 / 5" — True or False, the score and the threshold. */
export function spamHeader(spam: boolean, score: number, threshold: number): string {
  return `Spam: ${spam ? 'True' : 'False'} ; ${formatScore(score)} / ${formatScore(threshold)}`;
}

/**
 * An EX_OK response: the status line, the headers, Content-length when there is a body, and the body.
 * spamd/PROTOCOL: the header block ends with an empty line; CHECK has no body. The Spam line comes right after
 * the status line: Exim's `spam =` reads a REPORT answer with a fixed pattern ("SPAMD/v 0 EX_OK\r\nSpam: …");
 * spamc takes the headers in any order.
 */
export function okResponse(headers: readonly string[], body?: Buffer): Buffer {
  const lines = ['SPAMD/1.1 0 EX_OK', ...headers, ...(body ? [`Content-length: ${body.length}`] : [])];
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return body ? Buffer.concat([head, body]) : head;
}
