// The RFC 2449 CAPA list for a session's state: what it may use now (STLS and logins only before login).

export interface CapabilityState {
  authorization: boolean;
  /** TLS is configured and the connection is not yet secure. */
  stlsOffered: boolean;
  /** USER/PASS and SASL PLAIN may be used on this connection now. */
  plaintextAllowed: boolean;
}

/** RFC 2449 §5: the capability lines of a CAPA response (without the status line and terminator). */
export function capabilities(s: CapabilityState): string[] {
  // RFC 6856 §2: UTF8 is announced in both states (no USER argument: USER/PASS take no SASLprep here, so UTF-8
  // credentials are for AUTH PLAIN); §3: LANG, with English only.
  const caps = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'EXPIRE NEVER', 'UTF8', 'LANG', 'IMPLEMENTATION spamgate'];
  if (s.authorization) {
    if (s.stlsOffered) caps.push('STLS');
    if (s.plaintextAllowed) caps.push('USER', 'SASL PLAIN');
  }
  return caps;
}
