// SMTP AUTH as a client (RFC 4954) for the relay host: PLAIN (RFC 4616) when offered, else LOGIN, only on a
// connection that is encrypted or stays on this machine. A refusal is an error carrying the server's reply,
// never the credentials: nothing here puts the user name or password into a message or a log.
import net from 'node:net';
import type { NextHopReply } from '../queue/types.ts';
import { NextHopConnectionError } from './next-hop-wire.ts';

export interface NextHopAuth {
  username: string;
  password: string;
}

/** The mechanisms spamgate speaks, best first: PLAIN sends both in one exchange, LOGIN is the older habit. */
export const CLIENT_AUTH_MECHANISMS = ['PLAIN', 'LOGIN'] as const;

/** The mechanisms an EHLO keyword line lists: "AUTH PLAIN LOGIN", or the pre-standard "AUTH=PLAIN LOGIN". */
export function authMechanismsOf(keyword: string, args: readonly string[]): string[] | undefined {
  if (keyword === 'AUTH') return [...args];
  if (keyword.startsWith('AUTH=')) return [keyword.slice(5), ...args].filter(Boolean);
  return undefined;
}

/** An address of this machine (127/8, ::1, an IPv4-mapped 127/8): a password sent there crosses no network. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
  return net.isIPv4(a) ? a.startsWith('127.') : a === '::1';
}

/** A failed AUTH: the relay answered, so a retry later (not another address now) is the cure. */
export function authError(message: string, reply?: NextHopReply): NextHopConnectionError {
  const err = new NextHopConnectionError(message, reply);
  err.authFailure = true;
  return err;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** `text` with each secret (longest first, so a base64 form goes whole) replaced by "[redacted]". */
function withoutSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].filter((x) => x !== '').sort((a, b) => b.length - a.length)) out = out.split(s).join('[redacted]');
  return out;
}

/**
 * Authenticates with `command` (one line out, its reply back). RFC 4954 §4: the initial response goes with
 * the AUTH command (PLAIN); a challenge the client cannot answer is cancelled with "*". Throws an authError
 * on any reply but 235 (RFC 4954 §6: 535 bad credentials, 534 mechanism too weak, 538 encryption required,
 * 454 temporary), and before sending anything when no usable mechanism is offered.
 */
export async function authenticate(command: (line: string) => Promise<NextHopReply>, offered: ReadonlySet<string>, auth: NextHopAuth): Promise<void> {
  const mechanism = CLIENT_AUTH_MECHANISMS.find((m) => offered.has(m));
  if (!mechanism) {
    const others = offered.size ? `; it offers ${[...offered].join(' ')}` : ' (no AUTH in its EHLO reply)';
    throw authError(`the server offers no AUTH mechanism spamgate speaks (${CLIENT_AUTH_MECHANISMS.join(', ')})${others}`);
  }
  let reply: NextHopReply;
  // RFC 4616 §2: message = [authzid] NUL authcid NUL passwd (no authzid: act as the user logged in)
  const plainMessage = b64(`\u0000${auth.username}\u0000${auth.password}`);
  if (mechanism === 'PLAIN') {
    reply = await command(`AUTH PLAIN ${plainMessage}`);
  } else {
    reply = await command('AUTH LOGIN');
    if (reply.code === 334) reply = await command(b64(auth.username));
    if (reply.code === 334) reply = await command(b64(auth.password));
  }
  // a further challenge has no answer here: RFC 4954 §4 cancels the exchange with "*" (the server then says 501)
  if (reply.code === 334) reply = await command('*');
  if (reply.code !== 235) {
    // a server may quote the line it refuses: the password, as sent or plain, goes no further (log, DSN, queue show)
    const text = withoutSecrets(reply.text, [plainMessage, b64(auth.password), auth.password]);
    const told: NextHopReply = { ...reply, text };
    throw authError(`authentication (${mechanism}) refused: ${reply.code}${reply.enhanced ? ` ${reply.enhanced}` : ''} ${text}`.slice(0, 600), told);
  }
}
