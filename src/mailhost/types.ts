// What the gateway asks of the mail host: is this recipient ours, who is this user, where does mail go.

export type RecipientResolution =
  /** Final local mailboxes (user names) and remote addresses this recipient expands to. */
  | { kind: 'local'; mailboxes: string[]; remote: string[] }
  /** Domain is local but no such user, alias or catch-all: 550 5.1.1 at RCPT. */
  | { kind: 'unknown' }
  /** Alias expansion loops or is too deep: refused. */
  | { kind: 'loop'; detail: string }
  /** Not a local domain. */
  | { kind: 'remote' };

export interface RecipientDirectory {
  isLocalDomain(domain: string): boolean;
  resolve(address: string): RecipientResolution;
}

export interface Authenticator {
  /** Verifies a password (scrypt); returns the canonical user name or undefined. */
  authenticate(user: string, password: string): Promise<string | undefined>;
  /** The canonical name of an existing user, with no password: a login a trusted proxy vouches for (XCLIENT LOGIN). */
  userNamed(user: string): string | undefined;
  /** Addresses the user may use as MAIL FROM on submission. */
  ownsAddress(user: string, address: string): boolean;
}
