// The options and the interface of outbound delivery (outbound.ts), apart so that the MX delivery and its TLS policy
// (mx-delivery.ts, mx-tls.ts) can name them without importing the module that puts them together.
import type { Config } from '../config/schema.ts';
import type { Resolver } from '../dns/resolver.ts';
import type { SecureDns } from '../dns/secure-dns.ts';
import type { Registry } from '../metrics/registry.ts';
import type { RemoteDelivery } from '../queue/router.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { TlsSessionRecorder } from './tlsrpt-session.ts';

export type OutboundConfig = Config['outbound'];

export interface OutboundOptions {
  resolver: Resolver;
  config: OutboundConfig;
  /** EHLO name (config.helo_name wins); also one of the names an MX pointing at us would carry. */
  hostname: string;
  log: Logger;
  /** Randomness for ordering equal-preference MX hosts (tests pass a fixed one). */
  random?: () => number;
  /** Further names this host is known by (RFC 5321 §5.1 loop check). */
  selfNames?: readonly string[];
  /** True when address:port reaches this very server (RFC 5321 §5.1: "names or addresses by which it might be known"). */
  isSelfAddress?: (address: string, port: number) => boolean;
  /** The data directory: the MTA-STS policy cache is kept there (in memory only without it). */
  dataDir?: string;
  registry?: Registry;
  clock?: Clock;
  /**
   * MTA-STS seams for tests (no config key): the port policy hosts are reached on (443) and the CA trusted for
   * policy hosts and MX certificates under a policy (the system's roots).
   */
  mtaSts?: { policyPort?: number; ca?: Buffer };
  /** Where TLS sessions of MX delivery are counted for TLS reports (RFC 8460); none without outbound.tls_reports. */
  tlsReports?: TlsSessionRecorder;
  /** DNSSEC-aware look-ups (AD bit) of the validating resolver; needed with outbound.dane: on. */
  secureDns?: SecureDns;
}

export interface Outbound extends RemoteDelivery {
  /** Open connections to one host:port (tests check reuse). */
  poolSize(key: string): number;
}
