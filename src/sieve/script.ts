// The compiled form of a Sieve script: validated commands and tests with their tagged arguments resolved, as
// the executor runs them (plain data, so a compiled script can be cached and compared).
import type { Modifier } from './variables.ts';

export type Comparator = 'i;octet' | 'i;ascii-casemap';
export type MatchType = 'is' | 'contains' | 'matches';
export type AddressPart = 'all' | 'localpart' | 'domain';

export interface Match {
  comparator: Comparator;
  match: MatchType;
}

export type SieveTest =
  | ({ kind: 'address'; part: AddressPart; headers: string[]; keys: string[] } & Match)
  | ({ kind: 'envelope'; part: AddressPart; fields: Array<'from' | 'to'>; keys: string[] } & Match)
  | ({ kind: 'header'; headers: string[]; keys: string[] } & Match)
  | ({ kind: 'hasflag'; keys: string[] } & Match)
  | ({ kind: 'string'; sources: string[]; keys: string[] } & Match)
  | { kind: 'exists'; headers: string[] }
  | { kind: 'size'; over: boolean; limit: number }
  | { kind: 'allof' | 'anyof'; tests: SieveTest[] }
  | { kind: 'not'; test: SieveTest }
  | { kind: 'true' | 'false' };

export type SieveCommand =
  | { kind: 'if'; branches: Array<{ test?: SieveTest; body: SieveCommand[] }>; line: number }
  | { kind: 'stop'; line: number }
  | { kind: 'keep'; flags?: string[]; line: number }
  | { kind: 'discard'; line: number }
  | { kind: 'redirect'; address: string; copy: boolean; line: number }
  | { kind: 'fileinto'; folder: string; copy: boolean; flags?: string[]; line: number }
  | { kind: 'setflag' | 'addflag' | 'removeflag'; flags: string[]; line: number }
  | { kind: 'set'; name: string; value: string; modifiers: Modifier[]; line: number };

export interface CompiledScript {
  /** The extensions the script requires (RFC 5228 §3.2). */
  extensions: string[];
  commands: SieveCommand[];
}

/** Extensions spamgate implements: anything else in `require` is an error (RFC 5228 §3.2). */
export const SUPPORTED_EXTENSIONS: readonly string[] = ['fileinto', 'envelope', 'copy', 'imap4flags', 'variables'];

/** A mailbox for redirect: local@domain, no spaces, brackets or commas (RFC 5228 §4.2: syntax checked). */
const REDIRECT_ADDRESS = /^[^\s<>()",;:\\@]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

export function isRedirectAddress(address: string): boolean {
  return address.length <= 254 && REDIRECT_ADDRESS.test(address);
}
