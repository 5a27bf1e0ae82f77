// The check contract: a check runs in one SMTP phase and returns named symbol hits, never a verdict.
import type { Logger } from '../util/logger.ts';
import type { CheckName } from './names.ts';

export type Phase = 'connect' | 'helo' | 'mail' | 'rcpt' | 'data';
export const PHASES: readonly Phase[] = ['connect', 'helo', 'mail', 'rcpt', 'data'];

/** One symbol emitted by a check: score = weight × factor (factor defaults to 1). */
export interface SymbolHit {
  symbol: string;
  factor?: number;
  options?: string[];
  /** What `{options}` in the symbol's reply stands for, when not every option is for the client (default: options). */
  replyOptions?: string[];
  /** A hit about this one recipient (a rcpt list's): it counts in that recipient's verdict, not in the others'. */
  rcpt?: string;
}

/** The hits that count for `rcpt`: all but those about another recipient. */
export function hitsFor(hits: readonly SymbolHit[], rcpt: string | undefined): SymbolHit[] {
  return hits.filter((h) => h.rcpt === undefined || h.rcpt === rcpt);
}

/** What is known about the client; addresses are as presented by PROXY/XCLIENT when trusted. */
export interface SessionInfo {
  id: string;
  clientIp: string;
  clientPort: number;
  /** Reverse DNS name (or XCLIENT NAME) when known. */
  clientHostname?: string;
  helo?: string;
  /** The client greeted with EHLO (not HELO): the Received field says ESMTP (RFC 3848). */
  esmtp?: boolean;
  secure: boolean;
  /** Authenticated user name (SMTP AUTH), if any. */
  authUser?: string;
  /** Client address is inside smtp.trusted_networks. */
  trusted: boolean;
  /** Session arrived on the submission listener. */
  submission: boolean;
  localIp: string;
  localPort: number;
}

export interface Envelope {
  /** Reverse path; '' is the null sender. */
  mailFrom: string;
  rcptTo: string[];
  /** SIZE= declared at MAIL FROM. */
  declaredSize?: number;
  smtputf8: boolean;
  body8bit: boolean;
}

export interface HeaderField {
  /** Name as written (case preserved). */
  name: string;
  /** Unfolded value, leading whitespace trimmed. */
  value: string;
}

/** The message as the data phase sees it; derived views are memoised per message. */
export interface MessageView {
  raw: Buffer;
  /** Top-level header fields in order. */
  headers: readonly HeaderField[];
  /** First value of a header (case-insensitive), or undefined. */
  header(name: string): string | undefined;
  /** Compute a derived value once per message (parsed MIME, tokens, ...). */
  memo<T>(key: string, compute: () => T): T;
}

export interface CheckContext {
  phase: Phase;
  session: Readonly<SessionInfo>;
  envelope: Readonly<Envelope>;
  /** In the rcpt phase: the recipient being checked. */
  rcpt?: string;
  /** In the rcpt phase: the recipient as the client wrote it, when spamgate took a BATV tag off it (rcpt is the plain address). */
  rcptAsGiven?: string;
  /** In the data phase: the message. */
  message?: MessageView;
  /** Aborted when the check's time budget runs out. */
  signal: AbortSignal;
  /** Time of this phase, from the injected clock (ms since epoch). */
  now: number;
  log: Logger;
  /** Add a header to the accepted message (e.g. Received-SPF); prepended in call order. */
  addHeader(name: string, value: string): void;
  /** Per-transaction results shared between checks (e.g. SPF result for DMARC). */
  results: Map<string, unknown>;
  /** Symbols emitted so far in this session and transaction (for meta rules). */
  hitsSoFar: readonly SymbolHit[];
  /** Late checks only: the hits of this phase's other checks (also in hitsSoFar), e.g. this recipient's. */
  phaseHits?: readonly SymbolHit[];
}

export interface Check {
  /** One of CHECK_NAMES (checks/names.ts): the name checks.disabled and the logs use. */
  readonly name: CheckName;
  readonly phase: Phase;
  /** Every symbol this check can emit; each must be defined in rules/ or start-up fails. */
  readonly symbols: readonly string[];
  /** Time budget in ms; defaults to checks.timeout_ms. */
  readonly timeoutMs?: number;
  /** Skip the check for trusted-network and authenticated clients (default true). */
  readonly skipTrusted?: boolean;
  /** Also run for authenticated (submission) mail: the outbound spam check (content checks). */
  readonly outbound?: boolean;
  /**
   * Runs after the phase's other checks have finished, with their hits added to ctx.hitsSoFar (meta
   * rules, which combine the symbols of every check). 'last': after the other late checks too, seeing
   * their hits (greylisting, which must not record a triplet for a recipient a late check refuses).
   * 'first': after the phase's early checks but before the other late checks, which see its hits (allow
   * and deny lists: they read the SPF/DKIM/DMARC results, and meta rules combine their symbols).
   */
  readonly late?: boolean | 'first' | 'last';
  run(ctx: CheckContext): Promise<SymbolHit[]> | SymbolHit[];
}
