// MTA-STS (RFC 8461) policy discovery and fetch: the TXT record `_mta-sts.<domain>` through the
// project Resolver, then the policy file over HTTPS from `mta-sts.<domain>` (its address from the same
// resolver), parsed by mailauth. Bounded in size and time; every failure is a result, never a throw.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { domainToASCII } from 'node:url';
import { parsePolicy, resolvePolicy } from 'mailauth/lib/mta-sts.js';
import { toMailauthResolver } from '../dns/mailauth-resolver.ts';
import type { Resolver } from '../dns/resolver.ts';
import { startDeadline } from '../util/deadline.ts';

export type StsMode = 'enforce' | 'testing' | 'none';

/** A fetched policy (RFC 8461 §3.2) with the TXT id it was fetched under. */
export interface StsPolicy {
  id: string;
  mode: StsMode;
  /** MX patterns, lower case; `*.` may stand for the whole left-most label (RFC 8461 §4.1). */
  mx: string[];
  /** Seconds (RFC 8461 §3.2: at most 31557600). */
  maxAge: number;
}

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year). */
export const MAX_AGE_LIMIT = 31_557_600;
/** RFC 8461 §3.3: senders SHOULD limit the response body; 64 KiB is the suggested limit. */
export const MAX_POLICY_BYTES = 64 * 1024;
const POLICY_PATH = '/.well-known/mta-sts.txt';
/** Policy host addresses tried (connection failures only) within the one fetch deadline. */
const MAX_POLICY_ADDRESSES = 3;

export type Discovery =
  | { status: 'found'; id: string }
  /** No `v=STSv1` TXT record, or none with an id (RFC 8461 §3.1: the domain has no MTA-STS then). */
  | { status: 'none' }
  /** Several `v=STSv1` records (RFC 8461 §3.1: as if none), or the lookup failed. */
  | { status: 'invalid' | 'temperror'; reason: string };

/** The name MTA-STS works with: A-labels, lower case, no trailing dot; undefined for a name that cannot be one. */
export function policyDomain(domain: string): string | undefined {
  const ascii = domainToASCII(domain.replace(/\.$/, '').toLowerCase());
  return ascii && !net.isIP(ascii) && ascii.includes('.') ? ascii : undefined;
}

/** RFC 8461 §3.1: the TXT record at `_mta-sts.<domain>`, through the injected resolver. */
export async function discoverPolicyId(resolver: Resolver, domain: string): Promise<Discovery> {
  try {
    const id = await resolvePolicy(domain, { resolver: toMailauthResolver(resolver) });
    return id ? { status: 'found', id } : { status: 'none' };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'multi_sts_records') return { status: 'invalid', reason: 'several v=STSv1 TXT records' };
    return { status: 'temperror', reason: (err as Error).message };
  }
}

/**
 * RFC 8461 §3.3 and §4.2 (after RFC 6125): the certificate must carry a DNS-ID subjectAltName matching the
 * name; no fall-back to the subject CN, and a wildcard only as the whole left-most label.
 */
export function dnsIdCheck(name: string): (hostname: string, cert: PeerCertificate) => Error | undefined {
  return (_hostname, cert) => {
    try {
      if (new X509Certificate(cert.raw).checkHost(name, { subject: 'never', wildcards: true, partialWildcards: false, multiLabelWildcards: false, singleLabelSubdomains: false })) return undefined;
    } catch {
      // a certificate that does not parse names nothing
    }
    return Object.assign(new Error(`certificate has no DNS-ID subjectAltName for ${name}`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  };
}

export type FetchFailure = 'dns' | 'no_address' | 'connect' | 'certificate' | 'http_status' | 'content_type' | 'too_large' | 'timeout' | 'invalid_policy';
export type FetchResult = { status: 'ok'; policy: StsPolicy } | { status: 'error'; failure: FetchFailure; reason: string };

export interface FetchOptions {
  resolver: Resolver;
  family: 'any' | 'ipv4' | 'ipv6';
  /** The whole fetch: address lookups, connection, TLS, response. */
  timeoutMs: number;
  /** 443 in production; tests point it at their HTTPS server. */
  port?: number;
  /** Trusted roots (PEM) in place of the system's; tests pass their CA. */
  ca?: Buffer;
  /** Aborts the fetch early (shutdown), as a timeout does. */
  signal?: AbortSignal;
}

class FetchError extends Error {
  constructor(
    readonly failure: FetchFailure,
    message: string,
  ) {
    super(message);
  }
}

async function policyHostAddresses(resolver: Resolver, host: string, family: FetchOptions['family']): Promise<string[]> {
  const types = family === 'ipv4' ? (['A'] as const) : family === 'ipv6' ? (['AAAA'] as const) : (['A', 'AAAA'] as const);
  const out: string[] = [];
  let temp: string | undefined;
  for (const t of types) {
    const r = await resolver.lookup(host, t);
    if (r.status === 'ok') out.push(...r.records.filter((a) => net.isIP(a) !== 0));
    else if (r.status === 'temperror') temp = r.reason;
  }
  if (!out.length && temp) throw new FetchError('dns', `address lookup of ${host} failed: ${temp}`);
  if (!out.length) throw new FetchError('no_address', `${host} has no address`);
  return [...new Set(out)].slice(0, MAX_POLICY_ADDRESSES);
}

/** One GET of the policy file from one address; rejects with a FetchError. */
function getPolicyFile(host: string, address: string, opts: FetchOptions, signal: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    const fail = (err: FetchError): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      // the deadline's abort shows up as a reset or a cut-off response: it is the deadline that failed
      reject(signal.aborted ? new FetchError('timeout', `fetch of the policy of ${host} took too long`) : err);
    };
    const req = https.request(
      {
        host: address,
        port: opts.port ?? 443,
        path: POLICY_PATH,
        method: 'GET',
        servername: host,
        headers: { host, 'user-agent': 'spamgate', accept: 'text/plain' },
        // RFC 8461 §3.3: the policy host's certificate MUST chain to a trusted root and be valid for its name.
        rejectUnauthorized: true,
        ...(opts.ca ? { ca: opts.ca } : {}),
        checkServerIdentity: dnsIdCheck(host),
        agent: false,
        signal,
      },
      (res) => {
        // RFC 8461 §3.3: only 200 is a policy; redirects MUST NOT be followed (none is: anything else fails).
        if (res.statusCode !== 200) return fail(new FetchError('http_status', `HTTP ${res.statusCode ?? '?'} from ${host}`));
        // RFC 8461 §3.2: the policy's media type MUST be text/plain, and senders SHOULD check it, so that a web
        // server where users may put files (HTML, images) at any path cannot be made to serve a policy.
        const mediaType = (res.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
        if (mediaType !== 'text/plain') return fail(new FetchError('content_type', `policy of ${host} is served as ${JSON.stringify(res.headers['content-type'] ?? 'no Content-Type').slice(0, 80)}, not text/plain`));
        if (Number(res.headers['content-length']) > MAX_POLICY_BYTES) return fail(new FetchError('too_large', `policy of ${host} is over ${MAX_POLICY_BYTES} bytes`));
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_POLICY_BYTES) fail(new FetchError('too_large', `policy of ${host} is over ${MAX_POLICY_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve(Buffer.concat(chunks, size));
        });
        res.on('error', (err) => fail(new FetchError('connect', err.message)));
        res.on('close', () => {
          if (!res.complete) fail(new FetchError('connect', `incomplete response from ${host}`));
        });
      },
    );
    req.on('error', (err: Error & { code?: string }) => {
      const certificate = /CERT|SIGNATURE|ISSUER|SELF_SIGNED|ALTNAME/.test(err.code ?? '');
      fail(new FetchError(certificate ? 'certificate' : 'connect', `${host} [${address}]: ${err.message}`));
    });
    req.end();
  });
}

/**
 * A max_age over the RFC 8461 §3.2 maximum (mailauth refuses the policy then) is taken as the maximum: the
 * domain asked for a long enforcement, and dropping its policy for that would give it none.
 */
function capMaxAge(text: string): string {
  // every digit count: the maximum itself has 8 digits, so two years (63072000) is over it too
  return text.replace(/^([ \t]*max_age[ \t]*:[ \t]*)([0-9]+)([ \t]*)$/gim, (line: string, head: string, digits: string, tail: string) => (Number(digits) > MAX_AGE_LIMIT ? `${head}${MAX_AGE_LIMIT}${tail}` : line));
}

/** RFC 8461 §3.3: fetches and parses the policy of `domain` (a policyDomain name) for TXT id `id`. */
export async function fetchPolicy(domain: string, id: string, opts: FetchOptions): Promise<FetchResult> {
  const host = `mta-sts.${domain}`;
  const deadline = startDeadline(opts.timeoutMs, opts.signal);
  const signal = deadline.signal;
  try {
    const addresses = await policyHostAddresses(opts.resolver, host, opts.family);
    let body: Buffer | undefined;
    let last: FetchError | undefined;
    for (const address of addresses) {
      if (signal.aborted) throw new FetchError('timeout', `fetch of the policy of ${host} took too long`);
      try {
        body = await getPolicyFile(host, address, opts, signal);
        break;
      } catch (err) {
        last = err instanceof FetchError ? err : new FetchError('connect', (err as Error).message);
        if (last.failure !== 'connect') throw last; // another address is only worth it when this one was unreachable
      }
    }
    if (!body) throw last ?? new FetchError('connect', `${host}: no address answered`);
    let parsed: ReturnType<typeof parsePolicy>;
    try {
      parsed = parsePolicy(capMaxAge(body.toString('utf8')));
    } catch (err) {
      throw new FetchError('invalid_policy', `policy of ${host}: ${(err as Error).message}`);
    }
    const maxAge = Math.min(Math.max(0, Math.floor(parsed.maxAge ?? 0)), MAX_AGE_LIMIT);
    return { status: 'ok', policy: { id, mode: parsed.mode, mx: parsed.mx ?? [], maxAge } };
  } catch (err) {
    if (err instanceof FetchError) return { status: 'error', failure: err.failure, reason: err.message };
    return { status: 'error', failure: 'connect', reason: (err as Error).message };
  } finally {
    deadline.clear();
  }
}
