// SMTP AUTH (RFC 4954) against the mail host's users: only over TLS unless the client is on loopback.
import type { SMTPServerAuthentication, SMTPServerSession } from 'smtp-server';
import { CidrSet } from '../util/cidr.ts';
import type { GatewayDeps } from './gateway-types.ts';
import { SmtpError } from './smtp-error.ts';

export const LOOPBACK = new CidrSet(['127.0.0.0/8', '::1/128']);

/** Resolves with the canonical user name, or rejects with the SmtpError to reply. */
export async function authenticateSession(deps: GatewayDeps, auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<string> {
  const fail = (result: string, error: SmtpError): never => {
    deps.metrics.authAttempts.inc({ result });
    throw error;
  };
  // RFC 4954 §4: a server should refuse plaintext mechanisms without a protected channel.
  if (!session.secure && !LOOPBACK.has(session.remoteAddress)) fail('insecure', new SmtpError(538, '5.7.11', 'Encryption required for requested authentication mechanism'));
  const authenticator = deps.authenticator;
  if (!authenticator || typeof auth.password !== 'string') return fail('unavailable', new SmtpError(535, '5.7.8', 'Authentication credentials invalid'));
  let user: string | undefined;
  try {
    user = await authenticator.authenticate(auth.username ?? '', auth.password);
  } catch (err) {
    deps.log.error('authentication backend failed', { err, session: session.id });
    return fail('error', new SmtpError(454, '4.7.0', 'Temporary authentication failure'));
  }
  if (!user) return fail('failed', new SmtpError(535, '5.7.8', 'Authentication credentials invalid'));
  deps.metrics.authAttempts.inc({ result: 'success' });
  return user;
}
