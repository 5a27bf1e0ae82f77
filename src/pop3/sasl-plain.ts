// RFC 5034 SASL PLAIN for POP3: decoding the client's base64 response into the credentials (RFC 4616 §2).

export type PlainResponse =
  | { kind: 'credentials'; authc: string; password: string }
  | { kind: 'cancelled' }
  | { kind: 'bad-base64' }
  | { kind: 'malformed' }
  | { kind: 'foreign-authzid' };

// RFC 4648 §4: groups of four characters, "=" padding only at the end.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Reads one PLAIN response line. RFC 5034 §4: "*" cancels the exchange, and a response that is not
 * valid base64 MUST be rejected. RFC 4616 §2: [authzid] NUL authcid NUL passwd, none containing NUL;
 * an authzid is accepted only when it names the authenticating user.
 */
export function readPlainResponse(text: string): PlainResponse {
  if (text === '*') return { kind: 'cancelled' };
  if (!BASE64.test(text)) return { kind: 'bad-base64' };
  const parts = Buffer.from(text, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3) return { kind: 'malformed' };
  const [authz, authc, password] = parts as [string, string, string];
  if (authc === '' || password === '') return { kind: 'malformed' };
  if (authz && authz.toLowerCase() !== authc.toLowerCase()) return { kind: 'foreign-authzid' };
  return { kind: 'credentials', authc, password };
}
