// SMTP AUTH (RFC 4954) against the mail host's users: only over TLS unless the client is on loopback,
// and failed attempts throttled per client address and per user name like POP3 logins.
import type { SMTPServerAuthentication, SMTPServerSession } from 'smtp-server';
import { AuthThrottle, type ThrottleRule } from '../limits/auth-throttle.ts';
import { CidrSet } from '../util/cidr.ts';
import type { Clock } from '../util/clock.ts';
import type { GatewayDeps } from './gateway-types.ts';
import { SmtpError } from './smtp-error.ts';

export const LOOPBACK = new CidrSet(['127.0.0.0/8', '::1/128']);

/** Failed AUTH attempts allowed per window, per client address and per user name (smtp.auth.failures). */
export const SMTP_AUTH_FAILURES = { perIp: { limit: 10, window: 900_000 }, perUser: { limit: 5, window: 900_000 } };

/** ipv6Prefix: an IPv6 client counts as its network of this size (limits.ipv6_prefix). */
export function createSmtpAuthThrottle(clock: Clock, rules: { perIp: ThrottleRule; perUser: ThrottleRule } = SMTP_AUTH_FAILURES, ipv6Prefix?: number): AuthThrottle {
  return new AuthThrottle({ clock, ...rules, ...(ipv6Prefix === undefined ? {} : { ipv6Prefix }) });
}

/** Resolves with the canonical user name, or rejects with the SmtpError to reply. */
export async function authenticateSession(deps: GatewayDeps, auth: SMTPServerAuthentication, session: SMTPServerSession, throttle: AuthThrottle): Promise<string> {
  const fail = (result: string, error: SmtpError): never => {
    deps.metrics.authAttempts.inc({ result });
    throw error;
  };
  // XCLIENT LOGIN= (Postfix's XCLIENT, as nginx's mail proxy sends it after logging the user in itself): smtp-server
  // runs XCLIENT only for the xclient_from peers, so the proxy vouches for the login and no password crosses this
  // link. The name must be a user of this host; the session is then that user's (sender ownership, relay rights).
  if (auth.method === 'XCLIENT') {
    const user = deps.authenticator?.userNamed(auth.username ?? '');
    if (user === undefined) return fail('xclient_unknown', new SmtpError(550, '5.7.8', 'XCLIENT LOGIN names no user of this host'));
    deps.metrics.authAttempts.inc({ result: 'xclient' });
    return user;
  }
  // RFC 4954 §4: a server should refuse plaintext mechanisms without a protected channel.
  if (!session.secure && !LOOPBACK.has(session.remoteAddress)) fail('insecure', new SmtpError(538, '5.7.11', 'Encryption required for requested authentication mechanism'));
  const authenticator = deps.authenticator;
  if (!authenticator || typeof auth.password !== 'string') return fail('unavailable', new SmtpError(535, '5.7.8', 'Authentication credentials invalid'));
  const name = auth.username ?? '';
  // RFC 4616 §2: PLAIN carries an authorization identity to act as; we offer no proxy authorization, so one that
  // names someone other than the authenticating user is refused (smtp-server would log in as the authcid and
  // drop it). RFC 4954 §6: 535 5.7.8. An authzid with an empty authcid is the user name (smtp-server's fallback).
  if (auth.method === 'PLAIN' && auth.authzid && auth.authcid && auth.authzid.toLowerCase() !== auth.authcid.toLowerCase()) {
    return fail('authzid', new SmtpError(535, '5.7.8', 'Authorization identity not permitted'));
  }
  // Password guessing: an attempt counts against the limits while it is checked (parallel sessions
  // wait for outcomes instead of outrunning them); a blocked client gets 454 unchecked.
  if (!(await throttle.begin(session.remoteAddress, name))) return fail('throttled', new SmtpError(454, '4.7.0', 'Too many failed authentications, try again later'));
  let user: string | undefined;
  try {
    user = await authenticator.authenticate(name, auth.password);
  } catch (err) {
    deps.log.error('authentication backend failed', { err, session: session.id });
    return fail('error', new SmtpError(454, '4.7.0', 'Temporary authentication failure'));
  } finally {
    throttle.settle(session.remoteAddress, name, user !== undefined);
  }
  if (!user) return fail('failed', new SmtpError(535, '5.7.8', 'Authentication credentials invalid'));
  deps.metrics.authAttempts.inc({ result: 'success' });
  return user;
}
