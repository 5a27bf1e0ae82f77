// The ManageSieve capability lines (RFC 5804 §1.7), sent in the greeting, after STARTTLS and for CAPABILITY.
import { DEFAULT_LIMITS } from '../sieve/execute.ts';
import { SUPPORTED_EXTENSIONS } from '../sieve/script.ts';

export function capabilityLines(opts: { starttls: boolean; saslPlain: boolean }): string[] {
  return [
    '"IMPLEMENTATION" "spamgate"',
    // RFC 5804 §1.7: SASL is always listed, empty when no mechanism may be used on this connection
    `"SASL" "${opts.saslPlain ? 'PLAIN' : ''}"`,
    `"SIEVE" "${SUPPORTED_EXTENSIONS.join(' ')}"`,
    ...(opts.starttls ? ['"STARTTLS"'] : []),
    // RFC 5804 §2.14.1: UNAUTHENTICATE is supported, so advertised
    '"UNAUTHENTICATE"',
    `"MAXREDIRECTS" "${DEFAULT_LIMITS.maxRedirects}"`,
    '"VERSION" "1.0"',
  ];
}
