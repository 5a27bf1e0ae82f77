// The TLS side of the next-hop client (next-hop-client.ts): the options STARTTLS and implicit TLS share (verification,
// the name checked and sent as SNI, the CA), and a TLS failure as a NextHopConnectionError that says what failed (not
// offered, refused, certificate, handshake) and, for a certificate, node's code for why.
import net from 'node:net';
import type tls from 'node:tls';
import type { NextHopReply } from '../queue/types.ts';
import type { NextHopClientOptions } from './next-hop-options.ts';
import { NextHopConnectionError, type TlsFailure } from './next-hop-wire.ts';

/** The tlsCode of a connection the caller's peerCheck refused. */
export const PEER_CHECK_FAILED = 'PEER_CHECK_FAILED';

export function tlsError(message: string, failure: TlsFailure, reply?: NextHopReply): NextHopConnectionError {
  const err = new NextHopConnectionError(message, reply);
  err.tlsFailure = failure;
  return err;
}

/** The certificate name: servername, or host when it is a name. */
const certName = (o: NextHopClientOptions): string | undefined => o.servername ?? (net.isIP(o.host) ? undefined : o.host);

/** What STARTTLS and implicit TLS share: verification, the name checked and sent (SNI), the CA. */
export function tlsOptions(o: NextHopClientOptions): tls.ConnectionOptions {
  const name = certName(o);
  return {
    rejectUnauthorized: o.tlsVerify,
    // the certificate is checked for servername, or host (an address: its IP subjectAltName); without host
    // Node checks a wrapped socket's certificate for "localhost"
    host: o.host,
    ...(name ? { servername: name } : {}),
    ...(o.tlsCa ? { ca: o.tlsCa } : {}),
    ...(o.checkServerIdentity ? { checkServerIdentity: o.checkServerIdentity } : {}),
  };
}

/** A failed handshake as a TLS failure: the certificate (node sets authorizationError before it ends such a handshake) or the handshake. */
export function handshakeError(secure: tls.TLSSocket, err: Error, o: NextHopClientOptions): NextHopConnectionError {
  const name = certName(o);
  const certificate = secure.authorizationError !== undefined && secure.authorizationError !== null;
  const e = tlsError(certificate ? `certificate not valid${name ? ` for ${name}` : ''}: ${err.message}` : `TLS handshake failed: ${err.message}`, certificate ? 'certificate' : 'handshake');
  const code = errorCode(secure.authorizationError) ?? errorCode(err);
  if (certificate && code) e.tlsCode = code;
  return e;
}

/**
 * The code of a TLS verification failure: node's authorizationError is the code as a string (CERT_HAS_EXPIRED,
 * ERR_TLS_CERT_ALTNAME_INVALID, …), or a message when the error had none; an Error's `code` otherwise.
 */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'string') return /^[A-Z0-9_]{3,64}$/.test(err) ? err : undefined;
  const code = err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
