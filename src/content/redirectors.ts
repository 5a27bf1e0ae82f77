// Open redirectors unwrapped offline, for the URI block lists: a link such as
// `https://www.google.com/url?q=https://evil.example/` sends the reader to evil.example, so that target is asked
// as any other link (the redirector's own host still is too). Only redirectors that carry the target whole in a
// query parameter are known here, as it is or base64-encoded (Bing's click tracker); nothing is fetched. A target
// is itself unwrapped, to a small depth. A host `google.*` stands for google under any ICANN public suffix.
import { ANY_SUFFIX, icannSiteLabel } from '../dns/registered-domain.ts';

export interface Redirector {
  /**
   * The redirector's host; its subdomains match too (facebook.com covers l.facebook.com). `name.*`: `name` under
   * any public suffix of the list's ICANN section (google.* covers www.google.co.uk, google.de, google.com.au).
   */
  host: string;
  /** A path prefix the link must start with ("/url"); any path when absent. */
  path?: string;
  /** Query parameters that may hold the target, tried in order. */
  params: readonly string[];
  /** A literal start the parameter's value must have, cut before it is read (Bing's "a1"); none gives nothing. */
  prefix?: string;
  /** The target base64-encoded (either alphabet, padding optional) rather than written out. */
  decode?: 'base64';
}

/** A link longer than this is not unwrapped (no URL parse of a megabyte-long href). */
const MAX_LINK_LENGTH = 8_192;

/** An encoded target longer than this is not decoded (a target is a link, not a document). */
const MAX_ENCODED_LENGTH = 4_096;

/** The first redirector entry matching this URL's host and path, if any. */
function matching(url: URL, redirectors: readonly Redirector[]): Redirector | undefined {
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  let label: string | undefined | null = null;
  const site = (): string | undefined => (label === null ? (label = icannSiteLabel(host)) : label);
  const hostMatches = (entry: string): boolean =>
    entry.endsWith(ANY_SUFFIX) ? site() === entry.slice(0, -ANY_SUFFIX.length) : host === entry || host.endsWith(`.${entry}`);
  // RFC 3986 §6.2.2.2: an escaped unreserved character is that character (web servers route /%75rl as /url)
  const pathname = url.pathname.replace(/%([0-9a-f]{2})/gi, (esc, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9._~-]/.test(c) ? c : esc;
  }).toLowerCase();
  return redirectors.find((r) => (r.path === undefined || pathname.startsWith(r.path.toLowerCase())) && hostMatches(r.host));
}

/** Percent-escapes decoded; a run that is no valid UTF-8 (or a stray "%") stays as it is instead of failing the whole. */
function decodeLoose(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** C0 controls and spaces cut at both ends, tabs and newlines dropped (by index: no regex backtracking on long runs). */
function browserTrim(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) <= 0x20) start++;
  while (end > start && s.charCodeAt(end - 1) <= 0x20) end--;
  return s.slice(start, end).replace(/[\t\n\r]/g, '');
}

/**
 * A parameter value read as a web link, as a browser reads the Location it is redirected to (WHATWG URL: C0
 * controls and spaces at the ends and tabs and newlines anywhere dropped, any number of "/" or "\" before the
 * host): an absolute http(s) URL with a host (percent-encoded once more at most), else nothing.
 */
function asTarget(value: string): string | undefined {
  let v = browserTrim(value);
  // a target encoded twice ("https%3A%2F%2F…" after the query's own decoding) is decoded once more
  if (/^https?%3a/i.test(v)) v = browserTrim(decodeLoose(v));
  // two slashes at least: "https:evil.example" is a path relative to the redirector's own https URL
  if (!/^https?:[/\\]{2}/i.test(v)) return undefined;
  try {
    const u = new URL(v);
    return u.hostname ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A base64 value (standard or URL-safe alphabet, padded or not) decoded as UTF-8 text; undefined when it is too
 * long, holds any other character, has an impossible length, or decodes to no valid UTF-8.
 */
function fromBase64(value: string): string | undefined {
  if (value.length > MAX_ENCODED_LENGTH) return undefined;
  // padding cut (by index: no regex backtracking on a long run of "="); two "=" at most
  let end = value.length;
  while (end > 0 && value.length - end < 2 && value.charCodeAt(end - 1) === 0x3d) end--;
  // the query's form decoding read a "+" of the standard alphabet as a space
  const v = value.slice(0, end).replace(/ /g, '+');
  if (v.length === 0 || v.length % 4 === 1 || !/^[A-Za-z0-9+/_-]+$/.test(v)) return undefined;
  const bytes = Buffer.from(v.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** The target a redirector's parameter value holds, read as that redirector writes it. */
function targetOf(value: string, r: Redirector): string | undefined {
  if (r.prefix !== undefined && !value.startsWith(r.prefix)) return undefined;
  const rest = r.prefix === undefined ? value : value.slice(r.prefix.length);
  const text = r.decode === 'base64' ? fromBase64(rest) : rest;
  return text === undefined ? undefined : asTarget(text);
}

/**
 * The targets a link redirects to through known redirectors, outermost first, at most `depth` levels deep;
 * empty when the link is no redirector link or its parameter holds no web link.
 */
export function redirectTargets(link: string, redirectors: readonly Redirector[], depth: number): string[] {
  const targets: string[] = [];
  let current = link;
  for (let level = 0; level < depth && redirectors.length && current.length <= MAX_LINK_LENGTH; level++) {
    let url: URL;
    try {
      url = new URL(/^www\./i.test(current) ? `http://${current}` : current);
    } catch {
      break;
    }
    const r = matching(url, redirectors);
    if (!r) break;
    let next: string | undefined;
    for (const p of r.params) {
      // URLSearchParams decodes the percent-escapes and "+" of the query (WHATWG application/x-www-form-urlencoded)
      const value = url.searchParams.get(p);
      next = value === null ? undefined : targetOf(value, r);
      if (next !== undefined) break;
    }
    if (next === undefined) break;
    targets.push(next);
    current = next;
  }
  return targets;
}
