// A host name reduced to its registered domain by the public suffix list (tldts), the name URI block lists
// (SURBL, URIBL, Spamhaus DBL) list: www.bad-site.example.co.uk → example.co.uk. The PSL's private section
// counts too, so a site on a shared hosting domain is asked as itself (evil.github.io, not github.io).
import { domainToASCII } from 'node:url';
import { getDomain, parse } from 'tldts';
import { isDomainSyntax } from '../checks/dns-common.ts';

/**
 * A label of the host a link names. Wider than a host name's (RFC 1035 §2.3.1): "_" and "-" anywhere, as DNS
 * itself allows (RFC 2181 §11) and browsers resolve (promo_1.spam.example through a wildcard): only the
 * registered domain, the name asked, must be strict. At most 63 octets (RFC 1035 §2.3.4): no longer label resolves.
 */
const HOST_LABEL = /^[a-z0-9_-]{1,63}$/;

/**
 * Names of private networks, never delegated in the public DNS: a public list knows nothing of them, and asking
 * would tell its operator the names inside ours (as private addresses are never asked). RFC 6761 §6.3–6.4
 * (localhost, invalid), RFC 6762 (local), RFC 8375 (home.arpa), ICANN's reserved internal, and the names
 * private networks commonly use without delegation (lan, home, corp, intranet, private).
 */
const PRIVATE_NAMES: ReadonlySet<string> = new Set(['localhost', 'invalid', 'local', 'home.arpa', 'internal', 'lan', 'home', 'corp', 'intranet', 'private']);

function inPrivateNamespace(ascii: string): boolean {
  const labels = ascii.split('.');
  return PRIVATE_NAMES.has(labels.at(-1) ?? '') || PRIVATE_NAMES.has(labels.slice(-2).join('.'));
}

/** The registered domain of `host` (A-labels, lower case), or undefined when it is no valid DNS name, has none, or is private. */
export function registeredDomain(host: string): string | undefined {
  const ascii = domainToASCII(host.trim().replace(/\.$/, '')).toLowerCase();
  // RFC 1035 §2.3.4: 255 octets on the wire, 253 in text; no empty label
  if (!ascii || ascii.length > 253 || !ascii.split('.').every((l) => HOST_LABEL.test(l)) || inPrivateNamespace(ascii)) return undefined;
  const d = getDomain(ascii, { allowPrivateDomains: true, validateHostname: false });
  // RFC 1035 §2.3.1 names only for the name asked: no underscores, no hyphen at either end of a label
  return d && isDomainSyntax(d) && d.includes('.') ? d : undefined;
}

/**
 * The label just before the host's public suffix in the ICANN section of the list (www.google.co.uk and
 * google.com.au → google), or undefined: an address, a TLD the list does not know, a private name. The private
 * section is left out here: google.blogspot.com is a blog at blogspot.com, not Google's.
 */
export function icannSiteLabel(host: string): string | undefined {
  const ascii = domainToASCII(host.trim().replace(/\.$/, '')).toLowerCase();
  if (!ascii || ascii.length > 253 || inPrivateNamespace(ascii)) return undefined;
  const p = parse(ascii, { allowPrivateDomains: false, validateHostname: false });
  return p.isIcann === true && !p.isIp && p.domainWithoutSuffix ? p.domainWithoutSuffix : undefined;
}

/** An entry `name.*` (a redirector host, a uribl.exclude entry): `name` under any ICANN public suffix. */
export const ANY_SUFFIX = '.*';

/**
 * `domain` (a registered domain or a name under one) is under an entry of the set: a domain name, for itself and
 * every name under it (underAny), or `name.*`, for `name` under any public suffix of the ICANN section and every
 * name under that (google.* covers google.de and mail.google.co.uk, not google.blogspot.com: icannSiteLabel).
 */
export function excludedBy(domain: string, entries: ReadonlySet<string>): boolean {
  if (underAny(domain, entries)) return true;
  const label = icannSiteLabel(domain);
  return label !== undefined && entries.has(label + ANY_SUFFIX);
}

/** `domain` is `entry` or under it (entries: lower-case domain names). */
export function underAny(domain: string, entries: ReadonlySet<string>): boolean {
  for (let d = domain; ; ) {
    if (entries.has(d)) return true;
    const dot = d.indexOf('.');
    if (dot < 0) return false;
    d = d.slice(dot + 1);
  }
}
