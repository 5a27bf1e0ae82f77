// Adapts the project Resolver to the resolver function mailauth expects (node:dns style: arrays of
// records, errors carrying ENOTFOUND / ENODATA / ETIMEOUT / ESERVFAIL codes).
import type { RecordType, Resolver } from './resolver.ts';

export type MailauthResolver = (name: string, rrtype: string) => Promise<string[][] | string[]>;

const SUPPORTED = new Set<RecordType>(['A', 'AAAA', 'MX', 'TXT', 'PTR', 'CNAME', 'NS', 'SPF']);

function dnsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Every answer passes through `resolver`; an aborted `signal` turns further lookups into timeouts. */
export function toMailauthResolver(resolver: Resolver, signal?: AbortSignal): MailauthResolver {
  return async (name, rrtype) => {
    const type = rrtype.toUpperCase() as RecordType;
    if (!SUPPORTED.has(type)) throw dnsError('ENODATA', `${rrtype} lookups are not supported`);
    if (signal?.aborted) throw dnsError('ETIMEOUT', `lookup of ${name} abandoned: check deadline passed`);
    const result = await resolver.lookup(name, type);
    switch (result.status) {
      case 'ok':
        if (type === 'TXT' || type === 'SPF') return (result.records as string[]).map((r) => [r]);
        // mailauth reads MX answers as objects; its declared type only names the string forms.
        return result.records as unknown as string[];
      case 'nxdomain':
        throw dnsError('ENOTFOUND', `${name} does not exist`);
      case 'nodata':
        throw dnsError('ENODATA', `${name} has no ${type} records`);
      default:
        throw dnsError(result.reason === 'timeout' ? 'ETIMEOUT' : 'ESERVFAIL', `${type} lookup of ${name} failed: ${result.reason}`);
    }
  };
}
