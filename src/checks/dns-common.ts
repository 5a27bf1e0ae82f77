// Helpers shared by the DNS checks: racing a lookup against the check's AbortSignal, address parsing.
import { isIP } from 'node:net';

/** Resolves with `work`, or with `onAbort()` as soon as `signal` aborts: a check never hangs. */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => T): Promise<T> {
  if (signal.aborted) return Promise.resolve(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => resolve(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}

/** The domain of a mailbox ("a@B.example" → "b.example"), '' when there is none. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase().replace(/\.$/, '');
}

/** "[192.0.2.1]" / "[IPv6:2001:db8::1]" → the address; undefined when not an address literal (RFC 5321 §4.1.3). */
export function addressLiteral(helo: string): string | undefined {
  const m = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(helo);
  if (!m?.[1]) return undefined;
  const ip = m[1];
  const v6 = /^\[ipv6:/i.test(helo);
  return (v6 && isIP(ip) === 6) || (!v6 && isIP(ip) === 4) ? ip : undefined;
}

/** A syntactically valid domain name (RFC 5321 §4.1.2 Domain: letters, digits, hyphens). */
export function isDomainSyntax(name: string): boolean {
  return name.length <= 253 && /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i.test(name);
}
