// The `uribl` rules section: bounds of the URI block list lookups of one message. `max_uris` distinct
// registered domains (and as many link addresses) are asked per list at most; `exclude` names domains never
// asked (with everything under them; `google.*`: google under any ICANN public suffix): well-known big sites
// that no list holds and every newsletter links to.
// `redirectors` are open redirectors whose target (a query parameter, after a `prefix`, base64 with `decode`) is
// asked as a link too (host `google.*`: google under any ICANN public suffix), `redirect_depth`
// levels deep; `max_ns_*` bound the name server lookups of `uri_ns` lists.
// Files merge in order: a later number replaces the earlier, `exclude` and `redirectors` entries add up.
import { z } from 'zod';
import type { Redirector } from '../content/redirectors.ts';
import { domain } from '../config/units.ts';
import { ANY_SUFFIX, registeredDomain } from './registered-domain.ts';

export const DEFAULT_MAX_URIS = 50;
export const DEFAULT_REDIRECT_DEPTH = 3;
export const DEFAULT_MAX_NS_DOMAINS = 10;
export const DEFAULT_MAX_NS_HOSTS = 4;
export const DEFAULT_MAX_NS_LOOKUPS = 40;

/** `name.*`: `name` under any ICANN public suffix (google.* for google.de, google.co.uk). */
const ANY_SUFFIX_HOST = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.\*$/i;

/** A domain name (lower-cased), or `name.*`: a redirector host, an exclude entry. */
const domainOrAnySuffix = () =>
  z.string().transform((h, ctx) => {
    if (ANY_SUFFIX_HOST.test(h)) return h.toLowerCase();
    const d = domain().safeParse(h);
    if (d.success) return d.data;
    ctx.addIssue({ code: 'custom', message: `expected a domain name, or name.* for that name under any public suffix, found ${JSON.stringify(h)}` });
    return z.NEVER;
  });

const redirectorSchema = z.strictObject({
  host: domainOrAnySuffix(),
  path: z.string().regex(/^\/[\x21-\x7e]{0,200}$/, 'expected a path prefix starting with "/"').optional(),
  params: z
    .array(z.string().regex(/^[A-Za-z0-9_.~\[\]-]{1,64}$/, 'expected a query parameter name'))
    .min(1)
    .max(10),
  prefix: z.string().regex(/^[\x21-\x7e]{1,32}$/, 'expected the literal start of the parameter value').optional(),
  decode: z.enum(['base64']).optional(),
});

export const uriblSectionSchema = z.strictObject({
  max_uris: z.number().int().min(1).max(500).optional(),
  exclude: z
    .array(
      domainOrAnySuffix().superRefine((entry, ctx) => {
        // links are asked by registered domain, so an entry below one (www.partner.example) would never match; a
        // public suffix (blogspot.com) stands for every domain under it
        if (entry.endsWith(ANY_SUFFIX)) return;
        const d = registeredDomain(entry);
        if (d !== undefined && d !== entry) ctx.addIssue({ code: 'custom', message: `expected a registered domain (${d}), found ${entry}` });
      }),
    )
    .max(100_000)
    .optional(),
  redirectors: z.array(redirectorSchema).max(1_000).optional(),
  /** 0 switches unwrapping off. */
  redirect_depth: z.number().int().min(0).max(5).optional(),
  max_ns_domains: z.number().int().min(1).max(50).optional(),
  max_ns_hosts: z.number().int().min(1).max(10).optional(),
  max_ns_lookups: z.number().int().min(1).max(200).optional(),
});
export type UriblSection = z.output<typeof uriblSectionSchema>;

const NUMBERS = ['max_uris', 'redirect_depth', 'max_ns_domains', 'max_ns_hosts', 'max_ns_lookups'] as const;

export function mergeUriblSections(prev: UriblSection | undefined, next: UriblSection): UriblSection {
  const out: UriblSection = {};
  for (const k of NUMBERS) {
    const v = next[k] ?? prev?.[k];
    if (v !== undefined) out[k] = v;
  }
  const exclude = [...(prev?.exclude ?? []), ...(next.exclude ?? [])];
  const redirectors = [...(prev?.redirectors ?? []), ...(next.redirectors ?? [])];
  return { ...out, ...(exclude.length ? { exclude } : {}), ...(redirectors.length ? { redirectors } : {}) };
}

export interface UriblSettings {
  maxUris: number;
  exclude: ReadonlySet<string>;
  redirectors?: readonly Redirector[];
  redirectDepth?: number;
  /** uri_ns: link domains whose name servers are looked up, name servers per domain, resolver lookups per message. */
  maxNsDomains?: number;
  maxNsHosts?: number;
  maxNsLookups?: number;
}

export function uriblSettings(section: UriblSection | undefined): UriblSettings {
  return {
    maxUris: section?.max_uris ?? DEFAULT_MAX_URIS,
    exclude: new Set(section?.exclude ?? []),
    redirectors: (section?.redirectors ?? []).map((r) => ({
      host: r.host,
      params: r.params,
      ...(r.path !== undefined ? { path: r.path } : {}),
      ...(r.prefix !== undefined ? { prefix: r.prefix } : {}),
      ...(r.decode !== undefined ? { decode: r.decode } : {}),
    })),
    redirectDepth: section?.redirect_depth ?? DEFAULT_REDIRECT_DEPTH,
    maxNsDomains: section?.max_ns_domains ?? DEFAULT_MAX_NS_DOMAINS,
    maxNsHosts: section?.max_ns_hosts ?? DEFAULT_MAX_NS_HOSTS,
    maxNsLookups: section?.max_ns_lookups ?? DEFAULT_MAX_NS_LOOKUPS,
  };
}
