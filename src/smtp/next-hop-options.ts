// The options of a next-hop connection (next-hop-client.ts): where and how to connect, TLS and its checks, AUTH,
// XFORWARD, timeouts; and the result of one transaction over it.
import type tls from 'node:tls';
import type { NextHopReply } from '../queue/types.ts';
import type { NextHopAuth } from './next-hop-auth.ts';

export interface NextHopClientOptions {
  host: string;
  port: number;
  /** 4 or 6 to force an address family when host is a name; 0 = any. */
  family?: 0 | 4 | 6;
  /** The local address to connect from (of the family of the address connected to). */
  localAddress?: string;
  lmtp?: boolean;
  /** Name sent in EHLO/LHLO. */
  heloName: string;
  connectTimeout: number;
  commandTimeout: number;
  /** Wait for the reply to the end of the data (default: twice commandTimeout). */
  dataTimeout?: number;
  /** 'opportunistic' uses STARTTLS when offered and carries on in clear if the upgrade fails. */
  starttls: 'never' | 'opportunistic' | 'require';
  /** Verify the peer certificate (off by default for MX delivery, as most MTAs do). */
  tlsVerify: boolean;
  /** SNI / certificate name; defaults to host when it is a name. */
  servername?: string;
  /** Certificates trusted when verifying, in place of the system's roots (PEM); the system's when absent. */
  tlsCa?: Buffer;
  /** Replaces node's certificate name check (e.g. MTA-STS: a DNS-ID subjectAltName only, RFC 8461 §4.2). */
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  /**
   * Judges the peer after the handshake, whatever node's verification said (DANE, RFC 7672 §3: certificates are
   * matched against TLSA records, not PKIX roots): an error ends the connection as a certificate failure before
   * anything is sent over TLS.
   */
  peerCheck?: (secure: tls.TLSSocket) => Error | undefined;
  /** Send the original client with XFORWARD when the next hop offers it. */
  xforward?: boolean;
  /** RFC 8314 §3.3: TLS from the first byte (port 465), with tlsVerify, servername and tlsCa as for STARTTLS; starttls is then moot. */
  implicitTls?: boolean;
  /** Log in (RFC 4954) after TLS is up; on a connection in clear only to a loopback address. */
  auth?: NextHopAuth;
  /**
   * Given up on by its caller (a recipient probe past its deadline): the connection is destroyed, while it is
   * being set up or after, so no later reply carries on a conversation nobody waits for.
   */
  signal?: AbortSignal;
}

export interface TransactionResult {
  /** Final reply per recipient: its RCPT failure, or the data reply (LMTP: its own, RFC 2033 §4.2). */
  recipients: Map<string, NextHopReply>;
  /**
   * The next hop offers DSN, so the sender's DSN requests went with the message and success notices
   * are its business now (RFC 3461 §5.2.1); otherwise they are ours to send (§5.2.2, §5.2.3).
   */
  dsnPassedOn: boolean;
}
