// Per-connection and per-transaction state kept by the gateway between smtp-server callbacks.
import type { Envelope, SessionInfo, SymbolHit } from '../checks/types.ts';
import type { Check } from '../checks/types.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import type { TransactionDsn } from './esmtp-params.ts';

export interface Transaction {
  envelope: Envelope;
  hits: SymbolHit[];
  /** Recipients refused at RCPT, for the log line. */
  refused: { rcpt: string; reply: string }[];
  results: Map<string, unknown>;
  headers: [string, string][];
  startedAt: number;
  /** The rules snapshot taken at MAIL FROM: one transaction is judged by one snapshot. */
  ruleset: Ruleset;
  /** The checks of that snapshot: a reload mid-transaction changes neither what runs nor how it scores. */
  checks: readonly Check[];
  timings: Record<string, number>;
  /** RFC 3461 requests: RET/ENVID from MAIL FROM, NOTIFY/ORCPT of each accepted recipient. */
  dsn: TransactionDsn;
  /** What DKIM signing did with the message, for the log line ("example.com s=sel", "failed: ..."). */
  dkim?: string;
}

export interface SessionState {
  info: SessionInfo;
  /** Hits of the connect and helo phases (and the pre-greet test), kept for every transaction. */
  sessionHits: SymbolHit[];
  /** The helo phase's share of sessionHits: replaced when the client names itself anew (EHLO again, XCLIENT). */
  heloHits?: SymbolHit[];
  /** Header fields the connect and helo checks added, per phase: a phase run again replaces its own. */
  sessionHeaders: { connect: [string, string][]; helo: [string, string][] };
  /** Client address and HELO name the connect/helo checks last ran for. */
  connectCheckedFor?: string;
  heloCheckedFor?: string;
  tx?: Transaction;
  transactions: number;
  openedAt: number;
  sessionTimer?: NodeJS.Timeout;
}
