// The reply is the error: one type carries code, enhanced status (RFC 3463) and text to the client.

export class SmtpError extends Error {
  readonly responseCode: number;
  /** The hard-policy symbol whose reply this is (set by the phase runner). */
  symbol?: string;
  constructor(
    readonly code: number,
    readonly enhanced: string,
    readonly text: string,
  ) {
    // smtp-server sends err.message after the code; the connection keeps our enhanced code as written.
    super(`${enhanced} ${text}`);
    this.name = 'SmtpError';
    this.responseCode = code;
  }

  override toString(): string {
    return `${this.code} ${this.enhanced} ${this.text}`;
  }

  /** Parses "550 5.7.1 Relay access denied" (as written in rules/). */
  static fromReply(reply: string): SmtpError {
    const m = /^([245]\d\d)\s+([245]\.\d{1,3}\.\d{1,3})\s+(.*)$/s.exec(reply.trim());
    if (!m) return new SmtpError(451, '4.3.0', reply);
    return new SmtpError(Number(m[1]), m[2] ?? '4.3.0', m[3] ?? '');
  }
}

/** An enhanced status code at the start of a reply text. */
export const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

export const tempFailure = (text = 'Local error in processing, try again later'): SmtpError => new SmtpError(451, '4.3.0', text);

/** RFC 5321 §4.2.3 452, RFC 3463 §3.4 4.3.1: no room for the message now; the client tries again later. */
export const insufficientStorage = (): SmtpError => new SmtpError(452, '4.3.1', 'Insufficient system storage');
