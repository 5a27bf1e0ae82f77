// Outbound MX delivery: the MX plan (mx-plan.ts) through the injected Resolver, hosts in preference
// order, next host on connection failure or 4xx, pooled SMTP connections, every try bounded; the
// recipient domain's MTA-STS policy (mta-sts.ts) decides which hosts qualify and whether TLS is verified;
// with outbound.dane, an MX host with secure, usable TLSA records (dane-policy.ts) gets TLS matched against them.
// With outbound.relay (or a domain of outbound.routes), relay.ts delivers instead, to the relay host.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Resolver } from '../dns/resolver.ts';
import type { Registry } from '../metrics/registry.ts';
import { ConnectionPool } from '../queue/connection-pool.ts';
import { type RecipientOutcome, type RemoteDelivery } from '../queue/router.ts';
import type { DsnParameters, NextHopReply } from '../queue/types.ts';
import { NextHopClient, NextHopConnectionError } from '../smtp/next-hop-client.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { CachedPolicy } from './mta-sts-cache.ts';
import { dnsIdCheck, policyDomain } from './mta-sts-policy.ts';
import { createMtaSts, mxMatches } from './mta-sts.ts';
import { addressesOf, foreignSourceAddresses, sourceAddressFor, transactWithHost, type HostAddresses } from './host-delivery.ts';
import { isHostName, loopReply, planMxHosts } from './mx-plan.ts';
import type { RelayConfig } from '../config/sections/relay.ts';
import { createRelayDelivery } from './relay.ts';
import { matchRoute } from './route-match.ts';
import { connectionFailure, daneConnectionFailure, dnssecFailure, isTlsReport, mismatchFailure, reportEvent, reportPolicyOf, sessionFailure, type TlsSessionRecorder } from './tlsrpt-session.ts';
import type { FailureDetail, ReportPolicy } from './tlsrpt-store.ts';
import type { SecureDns } from '../dns/secure-dns.ts';
import { daneDelivery, type DaneDomain, type DaneHost } from './dane-policy.ts';
import { daneClientOptions, daneCounter } from './dane-connect.ts';

export { orderMx, planMx, type MxPlan } from './mx-plan.ts';
export { MAX_ADDRESSES_PER_HOST } from './host-delivery.ts';

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

/** The file of the MTA-STS policy cache in the data directory. */
export const MTA_STS_CACHE_FILE = 'mta-sts-policies.json';

/** Connection attempts per delivery (RFC 5321 §5.1 allows a configurable limit; at least two). */
export const MAX_CONNECTION_ATTEMPTS = 10;

export interface Outbound extends RemoteDelivery {
  /** Open connections to one host:port (tests check reuse). */
  poolSize(key: string): number;
}

/**
 * Remote delivery by recipient domain: a domain of outbound.routes (or a subdomain of a `.domain` entry) to its own relay host, any other to
 * outbound.relay when set, else to the domain's MX hosts. Relayed mail has no MX lookup and no MTA-STS (relay.ts).
 */
export function createOutbound(opts: OutboundOptions): Outbound {
  const cfg = opts.config;
  const helo = cfg.helo_name ?? opts.hostname;
  const log = opts.log.child({ component: 'outbound' });
  const foreign = foreignSourceAddresses(cfg);
  if (foreign.length) log.warn('outbound source address not on any interface of this host: connections from it fail and mail waits in the queue until it is', { addresses: foreign });
  const relayed = (relay: RelayConfig, route?: string): Outbound =>
    createRelayDelivery({ resolver: opts.resolver, config: cfg, relay, heloName: helo, log: route ? log.child({ route }) : log, ...(opts.registry ? { registry: opts.registry } : {}) });
  const routes = new Map(Object.entries(cfg.routes ?? {}).map(([domain, relay]) => [domain, relayed(relay, domain)]));
  const fallback = cfg.relay ? relayed(cfg.relay) : createMxDelivery(opts);
  if (!routes.size) return fallback;
  const all = [...routes.values(), fallback];
  return {
    poolSize: (key) => all.reduce((n, d) => n + d.poolSize(key), 0),
    deliver: (from, domain, recipients, message, dsn) => (matchRoute(routes, domain) ?? fallback).deliver(from, domain, recipients, message, dsn),
    close: async () => {
      for (const d of all) await d.close();
    },
  };
}

/** One MX connection to make: the host and address, the recipient domain's policy, and how the session is counted. */
interface ConnectTo {
  host: string;
  address: string;
  domain: string;
  policy: CachedPolicy | undefined;
  /** Where the session is counted for TLS reports (none for a report itself). */
  recorder: TlsSessionRecorder | undefined;
  /** The host is outside the (testing) policy's mx patterns. */
  mismatch: boolean;
  /** The message is a TLS report of spamgate's (RFC 8460 §5.3). */
  tlsReport: boolean;
  /** The host's usable TLSA records (DANE, RFC 7672): TLS required and the certificate matched against them. */
  dane: Extract<DaneHost, { kind: 'dane' }> | undefined;
  /** The host's secure TLSA records are all unusable: STARTTLS required, not authenticated by DANE (RFC 7672 §2.2). */
  encrypt: boolean;
}

type DaneOf = Extract<DaneHost, { kind: 'dane' }>;
const tlsaPolicy = (d: DaneOf | undefined): ReportPolicy => ({ type: 'tlsa', lines: d?.present ?? [] });

/** Delivery to the recipient domain's MX hosts. */
function createMxDelivery(opts: OutboundOptions): Outbound {
  const cfg = opts.config;
  const helo = cfg.helo_name ?? opts.hostname;
  const selfNames = [opts.hostname, helo, ...(opts.selfNames ?? [])];
  const pool = new ConnectionPool<NextHopClient>({
    maxPerKey: cfg.max_connections_per_destination,
    idleTimeout: cfg.idle_timeout,
    maxMessagesPerConnection: cfg.max_messages_per_connection,
  });
  const log = opts.log.child({ component: 'outbound' });
  const sts = cfg.mta_sts.enabled
    ? createMtaSts({
        resolver: opts.resolver,
        family: cfg.family,
        timeoutMs: cfg.mta_sts.timeout,
        cacheSize: cfg.mta_sts.cache_size,
        ...(opts.dataDir ? { file: path.join(opts.dataDir, MTA_STS_CACHE_FILE) } : {}),
        clock: opts.clock ?? systemClock,
        log,
        ...(opts.registry ? { registry: opts.registry } : {}),
        ...(opts.mtaSts?.policyPort ? { policyPort: opts.mtaSts.policyPort } : {}),
        ...(opts.mtaSts?.ca ? { ca: opts.mtaSts.ca } : {}),
        ...(opts.tlsReports ? { tlsReports: opts.tlsReports } : {}),
      })
    : undefined;
  const clock = opts.clock ?? systemClock;
  if (cfg.dane === 'on' && !opts.secureDns) throw new Error('outbound.dane: on needs DNSSEC-aware look-ups (secureDns)');
  const daneCount = daneCounter(opts.registry);
  /** Counts one session for the TLS report of `domain` (success without `failure`), under an MTA-STS policy or a TLSA RRset. */
  const recordSession = (recorder: TlsSessionRecorder | undefined, domain: string, policy: CachedPolicy | ReportPolicy | undefined, failure: FailureDetail | undefined): void => {
    // reported by policy domain (A-labels, lower case); an address literal has none
    const name = recorder ? policyDomain(domain) : undefined;
    const reportPolicy = policy && 'type' in policy ? policy : reportPolicyOf(policy);
    if (recorder && name) recorder.record(reportEvent(name, reportPolicy, clock.now(), failure));
  };

  /** An MX connection; under an MTA-STS policy (enforce or testing) with the policy's TLS checks. */
  const connector = (c: ConnectTo) => async (): Promise<NextHopClient> => {
    const { host, address, domain, policy, recorder, mismatch } = c;
    const base = {
      host: address,
      port: cfg.port,
      heloName: helo,
      connectTimeout: cfg.connect_timeout,
      commandTimeout: cfg.command_timeout,
      ...sourceAddressFor(cfg, address),
      ...(isHostName(host) ? { servername: host } : {}),
    };
    if (c.dane) {
      const client = await NextHopClient.connect(daneClientOptions(base, c.dane, () => clock.now()));
      daneCount('verified');
      log.debug('DANE: certificate matches the TLSA records', { domain, host, address });
      recordSession(recorder, domain, tlsaPolicy(c.dane), undefined);
      return client;
    }
    // RFC 8461 §4.2, §5: enforce needs STARTTLS and a certificate valid (DNS-ID) for the MX host name
    const enforce = policy?.mode === 'enforce';
    const client = await NextHopClient.connect({
      ...base,
      // RFC 8460 §5.3: a TLS report MUST be delivered despite any TLS-related failure: STARTTLS when offered, in clear if not
      starttls: enforce || c.encrypt ? 'require' : c.tlsReport && cfg.starttls !== 'never' ? 'opportunistic' : cfg.starttls,
      tlsVerify: enforce || (cfg.tls_verify && !c.tlsReport),
      ...(policy ? { checkServerIdentity: dnsIdCheck(host), ...(opts.mtaSts?.ca ? { tlsCa: opts.mtaSts.ca } : {}) } : {}),
    });
    if (policy && sts) {
      // testing: what enforce would have refused is reported, the mail goes as before (RFC 8461 §5)
      // a plain session after a failed handshake (opportunistic TLS started over in clear) is a TLS failure
      const fallback = client.tlsFallback?.failure;
      const result = client.secure ? (client.tlsAuthorized ? 'ok' : 'certificate') : fallback === 'handshake' ? 'tls' : fallback === 'certificate' ? 'certificate' : 'starttls';
      sts.report(domain, policy, host, result, client.secure ? client.tlsAuthorizationError : client.tlsFallback?.message);
    }
    // RFC 8460 §4.3: every session to the MX is counted, a success or its failure; an MX outside the policy
    // (testing mode: still used) is a validation failure whatever its TLS; no STARTTLS tried is no TLS session
    if (recorder && (enforce || cfg.starttls !== 'never')) {
      const where = { host, address };
      recordSession(recorder, domain, policy, mismatch ? mismatchFailure(client, where) : sessionFailure(client, where, reportPolicyOf(policy)));
    }
    return client;
  };

  return {
    poolSize: (key) => pool.size(key),
    async deliver(from, domain, recipients, message, dsn?: DsnParameters) {
      const results = new Map<string, RecipientOutcome>();
      const setAll = (rcpts: readonly string[], o: RecipientOutcome): void => {
        for (const r of rcpts) results.set(r, o);
      };
      const plan = await planMxHosts(opts.resolver, domain, { ...(opts.random ? { random: opts.random } : {}), selfNames });
      if (plan.kind === 'fail') {
        setAll(recipients, { status: plan.status, reply: plan.reply, destination: 'remote' });
        return results;
      }
      // RFC 8460 §5.3: a TLS report is delivered despite any TLS-related failure (no MTA-STS holds it back) and its
      // sessions are not counted in the next report (nor is any message carrying TLS-Report-Domain)
      const tlsReport = dsn?.tlsReport === true;
      const recorder = tlsReport || !opts.tlsReports || isTlsReport(message) ? undefined : opts.tlsReports;
      // RFC 8461 §5.1: every attempt asks DNS for the policy id again, so a deferral under enforce sees an updated policy
      const found = sts && !domain.startsWith('[') && !tlsReport ? await sts.policyFor(domain) : undefined;
      const policy = found && found.mode !== 'none' ? found : undefined;
      // RFC 7672 §2.2.1: DANE applies only when the MX RRset (or, without MX, the domain's address RRset) is secure
      const dane = opts.secureDns && cfg.dane === 'on' && !domain.startsWith('[') && !tlsReport ? daneDelivery(opts.secureDns, cfg.port, cfg.max_mx_hosts) : undefined;
      const daneDomain: DaneDomain | undefined = dane ? await dane.domain(domain, plan.implicit) : undefined;
      if (daneDomain?.kind === 'defer') {
        // RFC 7672 §2.1.1: a bogus or indeterminate answer is no "insecure" one: retried later, never sent without DANE
        daneCount('lookup_failed');
        log.warn('DANE: DNSSEC look-up failed, message deferred', { domain, reason: daneDomain.reason });
        setAll(recipients, { status: 'temp', reply: { code: 451, enhanced: '4.4.3', text: `DANE: ${daneDomain.reason}`, local: true }, destination: 'remote' });
        return results;
      }
      if (daneDomain?.kind === 'insecure') daneCount('mx_insecure');
      /** Why DANE kept the message from a host (TLSA look-up failed, certificate did not match, no STARTTLS). */
      let daneReply: NextHopReply | undefined;
      // connections of a report that may go without verified TLS are never pooled with those of other mail
      const stsKey = `${policy ? `|mta-sts-${policy.mode}` : ''}${tlsReport && (cfg.tls_verify || cfg.starttls === 'require') ? '|tlsrpt' : ''}`;
      /** Why MTA-STS (enforce) kept the message from a host; the reply when no host got to answer. */
      let stsReply: NextHopReply | undefined;
      const stsRefused = (why: string): NextHopReply => ({ code: 451, enhanced: '4.7.5', text: `MTA-STS policy of ${domain} (enforce): ${why}`, local: true });
      let remaining = [...recipients];
      let lastTemp: NextHopReply = { code: 451, enhanced: '4.4.4', text: `no usable mail server for ${domain}` };
      let lastMta: string | undefined;
      /** The host whose own reply lastTemp is (none for a connection failure or a reply we made up). */
      let lastReporter: string | undefined;
      let sawAddress = false;
      let sawTempDns = false;
      let tried = 0;
      let loopAt: number | undefined;
      const hosts = plan.hosts.slice(0, cfg.max_mx_hosts);
      const lookups = new Map<string, Promise<HostAddresses>>();
      const addressesOfHost = (name: string): Promise<HostAddresses> => {
        let p = lookups.get(name);
        if (!p) lookups.set(name, (p = addressesOf(opts.resolver, name, cfg.family)));
        return p;
      };
      let levelChecked: number | undefined;
      /** A connection broke after the message body went out: no other host is tried in this attempt. */
      let afterBody = false;
      // Bounded: max_mx_hosts hosts, MAX_ADDRESSES_PER_HOST addresses each, MAX_CONNECTION_ATTEMPTS in all.
      for (const { name: host, priority } of hosts) {
        if (!remaining.length || tried >= MAX_CONNECTION_ATTEMPTS || afterBody) break;
        // RFC 5321 §5.1: hosts at or below our own preference are never used. Whether one of them is this
        // server by address is known only after a lookup: all hosts of a preference are looked at before any
        // of them is tried, so the shuffle of equal preferences cannot decide between a delivery and a loop.
        if (opts.isSelfAddress && levelChecked !== priority) {
          levelChecked = priority;
          for (const peer of hosts.filter((h) => h.priority === priority)) {
            const a = await addressesOfHost(peer.name);
            if (a.status === 'ok' && a.addresses.some((x) => opts.isSelfAddress?.(x, cfg.port))) {
              log.warn('MX host is this server: mail loop avoided', { domain, host: peer.name });
              loopAt = priority;
              sawAddress = true;
            }
          }
        }
        if (loopAt !== undefined && priority >= loopAt) break;
        const daneHost = daneDomain?.kind === 'secure' && dane ? await dane.host(host) : undefined;
        if (daneHost?.kind === 'defer') {
          // RFC 7672 §2.2.3: the TLSA RRset of this host could not be had: not this host now, never without DANE
          daneCount('lookup_failed');
          log.warn('DANE: look-up failed, MX host skipped', { domain, host, reason: daneHost.reason });
          daneReply = { code: 451, enhanced: '4.7.5', text: `DANE: ${daneHost.reason}`, local: true };
          recordSession(recorder, domain, tlsaPolicy(undefined), dnssecFailure(host));
          continue;
        }
        if (daneHost?.kind === 'none') daneCount(daneHost.why);
        const daneOf = daneHost?.kind === 'dane' ? daneHost : undefined;
        const encrypt = daneHost?.kind === 'none' && daneHost.encrypt === true;
        // RFC 8461 §2: a DNSSEC-validated, usable TLSA RRset takes precedence over the MTA-STS policy for this host
        const hostPolicy = daneOf ? undefined : policy;
        const mismatch = hostPolicy !== undefined && sts !== undefined && !mxMatches(host, hostPolicy);
        if (hostPolicy && sts && mismatch) {
          sts.report(domain, hostPolicy, host, 'mx_mismatch');
          // RFC 8461 §4.1, §5: in enforce mode a host that fails MX matching MUST NOT get the message
          if (hostPolicy.mode === 'enforce') {
            stsReply = stsRefused(`MX host ${host} does not match the policy's mx patterns`);
            // RFC 8460 §4.3.1: the session that could not be had is a validation failure of this MX
            recordSession(recorder, domain, hostPolicy, { resultType: 'validation-failure', receivingMxHostname: host });
            continue;
          }
        }
        const addrs = await addressesOfHost(host);
        if (addrs.status !== 'ok') {
          if (addrs.status === 'temp') {
            sawTempDns = true;
            lastTemp = { code: 451, enhanced: '4.4.3', text: `address lookup for ${host} failed: ${addrs.reason}` };
          }
          continue;
        }
        sawAddress = true;
        for (const address of addrs.addresses) {
          if (!remaining.length || tried >= MAX_CONNECTION_ATTEMPTS) break;
          tried++;
          // a DANE connection is reused only under the TLSA records its certificate was matched against
          const key = `${host}|${address}:${cfg.port}${daneOf ? `|dane:${daneKey(daneOf)}` : `${stsKey}${encrypt ? '|encrypt' : ''}`}`;
          try {
            // a temporary reply at this host: the next MX may take the recipient (RFC 5321 §5.1)
            const round = await transactWithHost({ pool, key, connect: connector({ host, address, domain, policy: hostPolicy, recorder, mismatch, tlsReport, dane: daneOf, encrypt }), host, from, recipients: remaining, message, dsn, results });
            if (round.lastTemp) {
              lastTemp = round.lastTemp;
              lastMta = host;
              // RFC 3464 §2.3.5: Remote-MTA names an MTA that reported the status; a reply we made up names none
              lastReporter = round.lastTemp.local ? undefined : host;
            }
            remaining = round.deferred;
            if (remaining.length) break; // this host answered; try the next host, not its other addresses
          } catch (err) {
            log.debug('MX connection failed', { host, address, err });
            lastTemp = { code: 451, enhanced: '4.4.1', text: `${host} [${address}]: ${(err as Error).message}`, local: true };
            lastMta = host;
            lastReporter = undefined;
            if (err instanceof NextHopConnectionError) {
              const failure = daneOf ? daneConnectionFailure(err, { host, address }) : connectionFailure(err, { host, address });
              if (failure) recordSession(recorder, domain, daneOf ? tlsaPolicy(daneOf) : hostPolicy, failure);
            }
            if (daneOf && err instanceof NextHopConnectionError && err.tlsFailure) {
              // RFC 7672 §2.2, §3: no matching certificate or no STARTTLS: this host does not get the message, in
              // clear or otherwise; the next MX may, else the message stays queued
              daneCount(err.tlsFailure === 'certificate' ? 'tlsa_mismatch' : err.tlsFailure === 'handshake' ? 'tls_failed' : 'no_starttls');
              log.warn('DANE: MX host failed TLSA authentication, deferred', { domain, host, address, reason: err.message });
              daneReply = { code: 451, enhanced: '4.7.5', text: `DANE: ${host} [${address}]: ${err.message}`, local: true };
            }
            if (encrypt && err instanceof NextHopConnectionError && err.tlsFailure) {
              // RFC 7672 §2.2: TLSA records, even unusable ones, mean TLS: no STARTTLS or no handshake, no delivery here
              log.warn('DANE: MX host with unusable TLSA records failed TLS, deferred', { domain, host, address, reason: err.message });
              daneReply = { code: 451, enhanced: '4.7.5', text: `DANE: ${host} [${address}]: ${err.message}`, local: true };
            }
            if (hostPolicy && sts && err instanceof NextHopConnectionError && err.tlsFailure) {
              sts.report(domain, hostPolicy, host, err.tlsFailure === 'certificate' ? 'certificate' : err.tlsFailure === 'handshake' ? 'tls' : 'starttls', err.message);
              // RFC 8461 §5: enforce: no delivery without STARTTLS and a valid certificate, never in clear instead
              if (hostPolicy.mode === 'enforce') stsReply = stsRefused(`${host} [${address}]: ${err.message}`);
            }
            remaining = remaining.filter((r) => !results.has(r));
            if (err instanceof NextHopConnectionError && err.afterBody) {
              // The whole message went out and the reply never came: the host may have taken it. Another
              // address or MX now would send it again at once; the queue retries after its delay instead.
              lastTemp = { code: 451, enhanced: '4.4.2', text: `${host} [${address}]: connection lost after the message was sent (it may have been delivered): ${(err as Error).message}`, local: true };
              afterBody = true;
              break;
            }
          }
        }
      }
      const refused = daneReply ?? stsReply;
      if (remaining.length && refused && !lastReporter) {
        // RFC 8461 §5.1: an enforce failure is temporary: the message stays queued and each retry looks for a new policy;
        // so is a DANE failure (RFC 7672 §2.2): each retry looks the TLSA records up again
        setAll(remaining, { status: 'temp', reply: refused, destination: 'remote' });
        return results;
      }
      if (remaining.length && loopAt !== undefined && lastMta === undefined && !sawTempDns) {
        // RFC 5321 §5.1: no MX better than ourselves is left: the message MUST be returned.
        setAll(remaining, { status: 'perm', reply: loopReply(domain), destination: 'remote' });
        return results;
      }
      if (remaining.length && !sawAddress && !sawTempDns && plan.implicit) {
        // No MX and no address: nowhere to deliver (RFC 5321 §5.1).
        setAll(remaining, { status: 'perm', reply: { code: 550, enhanced: '5.1.2', text: `domain ${domain} has no mail server` }, destination: 'remote' });
        return results;
      }
      if (remaining.length && !sawAddress && !sawTempDns && loopAt === undefined) {
        // Every MX host is a name that does not exist or has no usable address (as Postfix, the sender hears at once).
        setAll(remaining, { status: 'perm', reply: { code: 550, enhanced: '5.4.4', text: `no MX host of ${domain} has a usable address` }, destination: 'remote' });
        return results;
      }
      setAll(remaining, { status: 'temp', reply: lastTemp, destination: 'remote', ...(lastReporter ? { remoteMta: lastReporter } : {}) });
      return results;
    },
    close: async () => {
      await pool.close();
      await sts?.close();
    },
  };
}

/** The TLSA records and reference names a DANE connection was verified under, as a pool key part. */
function daneKey(policy: Extract<DaneHost, { kind: 'dane' }>): string {
  return createHash('sha256').update(`${policy.present.join('\n')}|${policy.names.join(',')}`).digest('base64url').slice(0, 22);
}
