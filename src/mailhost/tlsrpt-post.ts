// A TLS report POSTed to an https: rua (RFC 8460 §5.4): the gzipped report as application/tlsrpt+gzip, the host's
// address from the project Resolver, its certificate verified for the host name, no redirects followed, the
// whole exchange within a timeout and the response body read to a bound. Every failure is a result, never a throw,
// and says whether trying again later may help (`retry`): see retryableStatus.
import https from 'node:https';
import net from 'node:net';
import type { Resolver } from '../dns/resolver.ts';
import { startDeadline } from '../util/deadline.ts';

export type PostResult = { status: 'ok'; code: number } | { status: 'error'; reason: string; retry: boolean };

/**
 * Whether a POST answered with `code` may succeed later: a 5xx (the server's trouble), 408 (timeout) and 429 (too
 * many requests) may; any other 4xx says the request itself is refused (not found, forbidden, too large, type not
 * taken) and the same report will be refused again; a 3xx is a redirect, which is not followed (§5.4), so it too
 * answers the same way every time.
 */
export const retryableStatus = (code: number): boolean => code >= 500 || code === 408 || code === 429 || code === 0;

export interface PostOptions {
  resolver: Resolver;
  timeoutMs: number;
  /** Trusted roots (PEM) in place of the system's; tests pass their CA. */
  ca?: Buffer;
  userAgent?: string;
  /** Ends the exchange early (the reporter closing at shutdown). */
  signal?: AbortSignal;
}

const MAX_RESPONSE_BYTES = 64 * 1024;

async function addressOf(resolver: Resolver, host: string): Promise<string> {
  const literal = host.replace(/^\[|\]$/g, '');
  if (net.isIP(literal)) return literal;
  for (const type of ['A', 'AAAA'] as const) {
    const r = await resolver.lookup(host, type);
    const a = r.status === 'ok' ? r.records.find((x) => net.isIP(x) !== 0) : undefined;
    if (a) return a;
  }
  throw new Error(`${host} has no address`);
}

export async function postReport(url: URL, gzip: Buffer, opts: PostOptions): Promise<PostResult> {
  const deadline = startDeadline(opts.timeoutMs, opts.signal);
  const signal = deadline.signal;
  try {
    const address = await addressOf(opts.resolver, url.hostname);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const code = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        {
          host: address,
          port: url.port ? Number(url.port) : 443,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          ...(net.isIP(host) ? {} : { servername: host }),
          // RFC 8460 §5.4 (and §7): the report goes to the rua host only over verified HTTPS
          rejectUnauthorized: true,
          ...(opts.ca ? { ca: opts.ca } : {}),
          headers: { host: url.host, 'content-type': 'application/tlsrpt+gzip', 'content-length': String(gzip.length), 'user-agent': opts.userAgent ?? 'spamgate' },
          agent: false,
          signal,
        },
        (res) => {
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) res.destroy();
          });
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('close', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(gzip);
    });
    // RFC 8460 §5.4: the receiver answers a successful delivery with a 2xx (typically 200 or 201); anything else failed
    return code >= 200 && code < 300 ? { status: 'ok', code } : { status: 'error', reason: `HTTP ${code} from ${url.host}`, retry: retryableStatus(code) };
  } catch (err) {
    const reason = opts.signal?.aborted ? `stopped before ${url.host} answered` : deadline.expired ? `no answer from ${url.host} in time` : (err as Error).message;
    // no answer (refused, reset, timed out, no address, a certificate not trusted): worth another try
    return { status: 'error', reason, retry: true };
  } finally {
    deadline.clear();
  }
}
