// The TLS settings of every server context spamgate creates (SMTP STARTTLS, POP3 STLS and implicit TLS, IMAP
// STARTTLS and implicit TLS): TLS 1.2 at least (RFC 8996 §2-3: TLS 1.0 and 1.1 MUST NOT be negotiated), and no
// renegotiation. A TLS 1.2 client may ask for a new handshake at any time; each costs the server a private-key
// operation, and Node only complains (an 'error' event) after 3 in 10 minutes. Nothing we serve needs it
// (RFC 9325 §3.5 lets a server refuse it), so OpenSSL answers every one with a no_renegotiation alert (the
// connection is left to the client, which then gives up: no second handshake is ever made).
import { constants } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';

export const SERVER_TLS_OPTIONS = {
  minVersion: 'TLSv1.2',
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} as const;

export function createServerContext(files: { cert: string | Buffer; key: string | Buffer }): SecureContext {
  return createSecureContext({ cert: files.cert, key: files.key, ...SERVER_TLS_OPTIONS });
}
