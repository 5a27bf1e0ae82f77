// A host name reduced to its registered domain by the public suffix list (tldts), the name URI block lists
// (SURBL, URIBL, Spamhaus DBL) list: www.bad-site.example.co.uk → example.co.uk. The PSL's private section
// counts too, so a site on a shared hosting domain is asked as itself (evil.github.io, not github.io).
import { domainToASCII } from 'node:url';
import { getDomain } from 'tldts';
import { isDomainSyntax } from '../checks/dns-common.ts';

/** The registered domain of `host` (A-labels, lower case), or undefined when it is no valid DNS name or has none. */
export function registeredDomain(host: string): string | undefined {
  const ascii = domainToASCII(host.trim().replace(/\.$/, '')).toLowerCase();
  // RFC 1035 §2.3.1 names only: no underscores, no empty or over-long labels (a 253-octet bound in all)
  if (!ascii || !isDomainSyntax(ascii)) return undefined;
  const d = getDomain(ascii, { allowPrivateDomains: true });
  return d && isDomainSyntax(d) && d.includes('.') ? d : undefined;
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
