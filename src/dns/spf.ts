// SPF (RFC 7208) for one identity: check_host() by mailauth's strict evaluator over the project
// Resolver, with the Received-SPF field (§9.1) and the Authentication-Results resinfo (RFC 8601 §2.7.2).
import { domainToASCII } from 'node:url';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import type { Resolver } from './resolver.ts';
import { toMailauthResolver } from './mailauth-resolver.ts';

export type SpfResult = 'none' | 'neutral' | 'pass' | 'fail' | 'softfail' | 'temperror' | 'permerror';
const RESULTS: readonly SpfResult[] = ['none', 'neutral', 'pass', 'fail', 'softfail', 'temperror', 'permerror'];

export interface SpfRequest {
  resolver: Resolver;
  /** Client address. */
  ip: string;
  /** MAIL FROM reverse path; '' (null sender) checks the HELO identity instead (RFC 7208 §2.4). */
  mailFrom: string;
  helo: string;
  /** Our host name, for the receiver= key and %{r}. */
  hostname: string;
  /** Whole-evaluation limit, temperror when passed (RFC 7208 §4.6.4). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SpfOutcome {
  result: SpfResult;
  identity: 'mailfrom' | 'helo';
  /** The domain check_host() was run for. */
  domain: string;
  /** The sender checked (postmaster@helo for the HELO identity). */
  sender: string;
  comment: string;
  /** Published exp= text, only for fail (RFC 7208 §6.2); third-party text. */
  explanation?: string;
  /** Value of a Received-SPF header field. */
  receivedSpf: string;
  /** "spf=pass smtp.mailfrom=example.com" for Authentication-Results. */
  authResults: string;
}

export async function checkSpf(req: SpfRequest): Promise<SpfOutcome> {
  const identity = req.mailFrom ? 'mailfrom' : 'helo';
  const res = await mailauthSpf({
    sender: req.mailFrom,
    ip: req.ip,
    helo: req.helo,
    mta: req.hostname,
    strict: true,
    resolver: toMailauthResolver(req.resolver, req.signal),
    ...(req.timeoutMs ? { maxElapsedTime: req.timeoutMs } : {}),
  });
  const raw = res.status.result as string;
  const result: SpfResult = (RESULTS as readonly string[]).includes(raw) ? (raw as SpfResult) : 'temperror';
  const sender = res['envelope-from'] ?? (req.mailFrom || `postmaster@${req.helo}`);
  const comment = typeof res.status.comment === 'string' ? res.status.comment : `${req.hostname}: ${result}`;
  const explanation = typeof res.explanation === 'string' ? res.explanation : undefined;
  return {
    result,
    identity,
    domain: res.domain,
    sender,
    comment,
    ...(explanation !== undefined ? { explanation } : {}),
    receivedSpf: formatReceivedSpf(result, comment, { ip: req.ip, sender: req.mailFrom ? sender : undefined, helo: req.helo, receiver: req.hostname, identity }),
    authResults: formatAuthResults(result, identity, identity === 'helo' ? req.helo : res.domain),
  };
}

/** RFC 7208 §9.1: result, comment, then key=value pairs. */
export function formatReceivedSpf(
  result: SpfResult,
  comment: string,
  keys: { ip: string; sender: string | undefined; helo: string; receiver: string; identity: 'mailfrom' | 'helo' },
): string {
  const pairs: string[] = [`client-ip=${keys.ip};`];
  if (keys.sender) pairs.push(`envelope-from=${quoteIfNeeded(keys.sender)};`);
  if (keys.helo) pairs.push(`helo=${quoteIfNeeded(keys.helo)};`);
  pairs.push(`receiver=${quoteIfNeeded(keys.receiver)};`, `identity=${keys.identity};`);
  return `${result} (${escapeComment(comment)}) ${pairs.join(' ')}`;
}

export function formatAuthResults(result: SpfResult, identity: 'mailfrom' | 'helo', value: string): string {
  return `spf=${result} smtp.${identity}=${quoteIfNeeded(value)}`;
}

function quoteIfNeeded(value: string): string {
  const ascii = asciiOnly(value);
  // dot-atom or a quoted-string (RFC 5322 §3.2.3, §3.2.4)
  return /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+$/.test(ascii) ? ascii : `"${ascii.replace(/["\\]/g, '\\$&').replace(/[\r\n]/g, ' ')}"`;
}

function escapeComment(text: string): string {
  return asciiOnly(text).replace(/[()\\]/g, '\\$&').replace(/[\r\n]+/g, ' ');
}

/**
 * Our header fields stay ASCII, so a message can go on to a next hop without 8BITMIME or SMTPUTF8: a
 * Unicode HELO or sender domain is written as A-labels, any other non-ASCII character as "?".
 */
function asciiOnly(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(value)) return value;
  const at = value.lastIndexOf('@');
  const domain = value.slice(at + 1);
  const aLabels = /^[^\s"()]+$/.test(domain) ? domainToASCII(domain) : '';
  const withDomain = aLabels !== '' ? `${value.slice(0, at + 1)}${aLabels}` : value;
  // eslint-disable-next-line no-control-regex
  return withDomain.replace(/[^\x00-\x7f]/gu, '?');
}
