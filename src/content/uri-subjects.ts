// What the URI block lists are asked about one message: the registered domains of its links (HTML hrefs and
// URLs in the decoded text, as the content rules' `uri` rules see them: collectUris), the addresses of links
// to IP literals, the links of HTML attachments (mail.attachmentLinks), and on request the domains of e-mail
// addresses in the body. Hosts are read as a browser
// reads them (WHATWG URL: "\" as "/", numeric IPv4 forms such as 3232235777, percent-escapes, IDN to A-labels).
// A link through a known open redirector (google.com/url?q=…) gives its target too, right after it (redirectors.ts).
import { isIP } from 'node:net';
import { collectUris, webLink } from './engine.ts';
import { registeredDomain } from '../dns/registered-domain.ts';
import type { ParsedMail } from '../mime/parse.ts';
import { redirectTargets, type Redirector } from './redirectors.ts';
import { withoutFinalOf } from '../util/trim-end.ts';

export interface UriSubjects {
  /** Registered domains of link hosts, in order of first appearance (hrefs first), without repeats. */
  domains: string[];
  /** Registered domains of e-mail addresses in the body (mailto: links, bare addresses) not already in domains. */
  emailDomains: string[];
  /** IP literals of link hosts, canonical text, without repeats (private ones included: the check filters). */
  ips: string[];
}

/** Bounds the work on a hostile message: distinct names collected, before any list's max_uris. */
const MAX_COLLECTED = 500;
/**
 * Distinct e-mail domain spellings read per message: a body of "a@" or one address repeated gives hundreds of
 * thousands of matches, each a reduction by the public suffix list.
 */
const MAX_EMAIL_NAMES = 2_000;
/** Redirector links unwrapped per message: the rest are asked by their own host only. */
const MAX_UNWRAPPED = 200;
/** Punctuation that ends a sentence after a URL in text, not part of its host (dropped by a scan: a pattern anchored at the end is quadratic in a run of it). */
const TRAILING = '.,;:!?\'")]}>';
/** "@" and the domain after it; the local part is not needed, only that there is one (a character before). */
const EMAIL_DOMAIN = /[a-z0-9._%+-]@([a-z0-9.-]{1,253})/gi;

/** The host of a link as a browser reads it: "", or a name, or an IP literal (IPv6 without brackets). */
export function linkHost(uri: string): string {
  const text = withoutFinalOf(uri.trim(), TRAILING);
  let host: string;
  try {
    host = new URL(/^www\./i.test(text) ? `http://${text}` : text).hostname;
  } catch {
    return '';
  }
  return host.startsWith('[') ? host.slice(1, -1) : withoutFinalOf(host, TRAILING).replace(/\.$/, '');
}

export interface UriSubjectsOptions {
  /** Also collect the domains of e-mail addresses (else emailDomains is empty: no list asks them). */
  emails: boolean;
  /** Open redirectors whose targets are read as links too. */
  redirectors?: readonly Redirector[];
  /** Levels of redirectors unwrapped per link (a redirector to a redirector to the target is 2). */
  redirectDepth?: number;
}

export function uriSubjects(mail: ParsedMail, opts: UriSubjectsOptions = { emails: true }): UriSubjects {
  const domains = new Set<string>();
  const ips = new Set<string>();
  const redirectors = opts.redirectors ?? [];
  let unwrapped = 0;
  const addHost = (uri: string): void => {
    const host = linkHost(uri);
    if (!host) return;
    if (isIP(host)) ips.add(host);
    else {
      const d = registeredDomain(host);
      if (d) domains.add(d);
    }
  };
  // the message's own links, then those of HTML attachments (a phishing page sent as invoice.html)
  const attached = mail.attachmentLinks.map(webLink).filter((l): l is string => l !== undefined);
  for (const uri of [...collectUris(mail), ...attached]) {
    if (domains.size + ips.size >= MAX_COLLECTED) break;
    addHost(uri);
    if (!redirectors.length || unwrapped >= MAX_UNWRAPPED) continue;
    const targets = redirectTargets(uri, redirectors, opts.redirectDepth ?? 0);
    if (targets.length) unwrapped++;
    for (const target of targets) if (domains.size + ips.size < MAX_COLLECTED) addHost(target);
  }
  const emailDomains = new Set<string>();
  // each spelling reduced once; the first MAX_EMAIL_NAMES distinct ones only
  const names = new Set<string>();
  const texts = opts.emails ? [...mail.links.filter((l) => /^mailto:/i.test(l)), mail.text, mail.htmlText] : [];
  for (const text of texts) {
    for (const m of text.matchAll(EMAIL_DOMAIN)) {
      if (emailDomains.size >= MAX_COLLECTED || names.size >= MAX_EMAIL_NAMES) break;
      const name = (m[1] ?? '').toLowerCase();
      if (names.has(name)) continue;
      names.add(name);
      const d = registeredDomain(name.replace(/[.-]+$/, ''));
      if (d && !domains.has(d)) emailDomains.add(d);
    }
  }
  return { domains: [...domains], emailDomains: [...emailDomains], ips: [...ips] };
}
