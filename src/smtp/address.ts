// Recipient and sender address analysis for relay control: normalises, and spots routing tricks.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { withoutFinalDots } from '../util/trim-end.ts';

export interface ParsedAddress {
  /** Local part as written (quotes removed). */
  local: string;
  /** Lower-cased domain without trailing dot ('' when absent). */
  domain: string;
  /** True when the domain is an address literal ([192.0.2.1], [IPv6:...]). */
  literal: boolean;
  /** Normalised form local@domain. */
  address: string;
  /** Why this address must not be treated as a plain local address, if it carries routing syntax. */
  trick?: 'source-route' | 'percent-hack' | 'bang-path' | 'at-in-local-part' | 'bad-syntax';
}

/** Strips an RFC 5321 source route ("@a,@b:user@dom" → "user@dom"), as App. C allows. */
export function stripSourceRoute(addr: string): { address: string; hadRoute: boolean } {
  const m = /^@[^:]+:(.+)$/s.exec(addr);
  return m?.[1] ? { address: m[1], hadRoute: true } : { address: addr, hadRoute: false };
}

/** Parses a mailbox (no angle brackets). Never throws. */
export function parseAddress(input: string): ParsedAddress {
  const { address: raw, hadRoute } = stripSourceRoute(input.trim());
  let local: string;
  let domainPart: string;
  let quoted = false;
  if (raw.startsWith('"')) {
    // Quoted-string local part (RFC 5321 §4.1.2): find the closing quote, honouring backslash escapes.
    let i = 1;
    let text = '';
    for (; i < raw.length && raw[i] !== '"'; i++) {
      if (raw[i] === '\\' && i + 1 < raw.length) i++;
      text += raw[i];
    }
    if (raw[i] !== '"') return bad(raw);
    local = text;
    quoted = true;
    const rest = raw.slice(i + 1);
    if (rest !== '' && !rest.startsWith('@')) return bad(raw);
    domainPart = rest.slice(1);
  } else {
    const at = raw.lastIndexOf('@');
    local = at === -1 ? raw : raw.slice(0, at);
    domainPart = at === -1 ? '' : raw.slice(at + 1);
  }
  let domain = withoutFinalDots(domainPart.toLowerCase());
  let literal = false;
  if (domain.startsWith('[')) {
    literal = true;
    if (!domain.endsWith(']')) return bad(raw);
    const inner = domain.slice(1, -1).replace(/^ipv6:/, '');
    if (isIP(inner) === 0) return bad(raw);
    domain = `[${domain.slice(1, -1)}]`;
  }
  const result: ParsedAddress = { local, domain, literal, address: domain ? `${local}@${domain}` : local };
  if (hadRoute) result.trick = 'source-route';
  else if (local.includes('@')) result.trick = 'at-in-local-part';
  else if (local.includes('%')) result.trick = 'percent-hack';
  else if (local.includes('!')) result.trick = 'bang-path';
  // Source routes are stripped and then judged on the final mailbox (RFC 5321 App. C), so only
  // the local-part tricks above make a recipient unsafe; remember the quoting for logs.
  if (result.trick === 'source-route') delete result.trick;
  void quoted;
  return result;
}

// RFC 5321 §4.1.2 atext (RFC 6531 §3.3 adds UTF-8 characters)
const ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+$/u;

/** The local part is a Dot-string (RFC 5321 §4.1.2): it needs no quoting. */
export function isDotString(local: string): boolean {
  return local.split('.').every((atom) => ATOM.test(atom));
}

/**
 * The mailbox as spamgate keeps it in the envelope, its domain as A-labels. A quoted local part that needs no quoting loses its
 * quotes and escapes (`"postmaster"@x`, `"post\master"@x` → `postmaster@x`; RFC 5321 §4.1.2 says it
 * SHOULD NOT be quoted then, and both name one mailbox), so relay control, recipient verification and
 * delivery all see the one form. Anything else is returned as given.
 */
export function canonicalMailbox(input: string): string {
  const { address: raw } = stripSourceRoute(input.trim());
  const mailbox = raw.startsWith('"') ? unquoted(input) : input;
  return withALabels(mailbox);
}

function unquoted(input: string): string {
  const p = parseAddress(input);
  if (p.trick !== undefined || !isDotString(p.local) || p.domain === '') return input;
  return `${p.local}@${p.domain}`;
}

/**
 * The domain as A-labels (RFC 5890 §2.3.2.1): smtp-server hands over `info@xn--bcher-kva.example` as
 * `info@bücher.example`, while domains in the config, the users and the aliases are ASCII; the two forms
 * name one domain (RFC 6531 §3.2 lets either travel). The local part is left as it is.
 */
function withALabels(mailbox: string): string {
  const at = mailbox.lastIndexOf('@');
  const domain = at < 0 ? '' : mailbox.slice(at + 1);
  // eslint-disable-next-line no-control-regex
  if (domain === '' || /^[\x00-\x7f]*$/.test(domain) || domain.startsWith('[')) return mailbox;
  const ascii = domainToASCII(domain);
  return ascii === '' ? mailbox : `${mailbox.slice(0, at)}@${ascii}`;
}

function bad(raw: string): ParsedAddress {
  return { local: raw, domain: '', literal: false, address: raw, trick: 'bad-syntax' };
}

/** The domain is one we receive mail for: exact match only (no suffix or substring games). */
export function isLocalDomain(domain: string, localDomains: ReadonlySet<string>): boolean {
  return domain !== '' && localDomains.has(domain);
}

/** RFC 5321 §4.5.1: "Postmaster" (any case) with a local domain, or with no domain at all. */
export function isPostmaster(addr: ParsedAddress, localDomains: ReadonlySet<string>): boolean {
  return addr.local.toLowerCase() === 'postmaster' && (addr.domain === '' || isLocalDomain(addr.domain, localDomains));
}
