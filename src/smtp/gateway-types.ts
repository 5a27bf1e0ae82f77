// The gateway's contracts with the composition root: its dependencies, the reloadable snapshot and
// the verdict event handed to listeners such as autolearn.
import type { Batv } from '../batv/batv.ts';
import type { Check, Envelope, SessionInfo } from '../checks/types.ts';
import type { DkimSigner } from '../dkim/signer.ts';
import type { Config } from '../config/schema.ts';
import type { AuthThrottle } from '../limits/auth-throttle.ts';
import type { RateStore } from '../limits/rate-store.ts';
import type { Authenticator } from '../mailhost/types.ts';
import type { FreeSpace } from '../queue/free-space.ts';
import type { InlineForwarder, MessageSink } from '../queue/types.ts';
import type { QuarantineSink } from '../quarantine/store.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import type { Action, Verdict } from '../scoring/scorer.ts';
import type { Clock } from '../util/clock.ts';
import type { ArcSealer } from '../dkim/arc-sealer.ts';
import type { Logger } from '../util/logger.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';

/** Everything reloadable: one transaction is judged by one snapshot. */
export interface GatewaySnapshot {
  config: Config;
  ruleset: Ruleset;
  checks: readonly Check[];
  /** Signs mail from authenticated clients and trusted networks (dkim.sign); absent when no key is configured. */
  dkim?: DkimSigner;
  /** Seals copies forwarded to other domains (arc.seal, full-stack mode, with dkim.sign keys); absent when off. */
  arc?: ArcSealer;
  /** BATV (batv.enabled): reads the tags of recipients at RCPT; absent when off. */
  batv?: Batv;
}

export interface VerdictEvent {
  verdict: Verdict;
  message: Buffer;
  session: Readonly<SessionInfo>;
  envelope: Readonly<Envelope>;
  /** Results the checks left (e.g. the Bayes probability for autolearn). */
  results: ReadonlyMap<string, unknown>;
}

/** A transaction's final action after DATA (a refusal or a delivery), for DMARC aggregate reports. */
export interface FinalActionEvent {
  action: Action;
  /** A refusal's verdict (its score, for sender reputation). */
  verdict?: Verdict;
  message: Buffer;
  session: Readonly<SessionInfo>;
  envelope: Readonly<Envelope>;
  results: ReadonlyMap<string, unknown>;
}

export interface GatewayDeps {
  /** The listener: MX (smtp), submission with STARTTLS, submission over implicit TLS (submissions, RFC 8314), the milter, or spamd. */
  name: 'smtp' | 'submission' | 'submissions' | 'milter' | 'spamd';
  snapshot: () => GatewaySnapshot;
  sink?: MessageSink;
  /** Free space on the spool's file system, checked at MAIL against queue.min_free (absent: not checked). */
  freeSpace?: FreeSpace;
  inline?: InlineForwarder;
  /** Where the copy for recipients whose verdict is quarantine goes (durably, before the 250). */
  quarantine?: QuarantineSink;
  authenticator?: Authenticator;
  rateStore: RateStore;
  /** Failed AUTH attempts, shared by the SMTP and submission listeners (one budget per address and user). */
  authThrottle?: AuthThrottle;
  clock: Clock;
  log: Logger;
  metrics: GatewayMetrics;
  hostname: string;
  tls?: { key: Buffer; cert: Buffer };
  /** Called after each accepted message's verdict (autolearn, statistics). */
  onVerdict?: (event: VerdictEvent) => void;
  /** Called with the action taken on each message after DATA: rejected, or accepted (not for tempfails). */
  onFinal?: (event: FinalActionEvent) => void;
}
