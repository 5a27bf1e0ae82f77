// Outbound delivery through a relay host (outbound.relay, a "smarthost"): every remote recipient goes to the
// one configured host over STARTTLS or implicit TLS (RFC 8314), logged in with SMTP AUTH (RFC 4954). No MX
// lookup and no MTA-STS: the relay is the trusted next hop, its certificate checked by tls_verify. The relay's
// 5xx to a recipient is final, its 4xx a retry, as for MX delivery; a refused login defers every recipient
// (a wrong password must not bounce mail: it is mended and the queue delivers), as Postfix does.
import { createHash } from 'node:crypto';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import type { RelayConfig } from '../config/sections/relay.ts';
import type { Config } from '../config/schema.ts';
import type { Resolver } from '../dns/resolver.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import { ConnectionPool } from '../queue/connection-pool.ts';
import type { RecipientOutcome } from '../queue/router.ts';
import type { DsnParameters, NextHopReply } from '../queue/types.ts';
import { NextHopClient, NextHopConnectionError } from '../smtp/next-hop-client.ts';
import { authError } from '../smtp/next-hop-auth.ts';
import type { Logger } from '../util/logger.ts';
import { addressesOf, sourceAddressFor, transactWithHost, type HostAddresses } from './host-delivery.ts';
import { readRelayPassword } from './relay-password.ts';

export interface RelayDeliveryOptions {
  resolver: Resolver;
  config: Config['outbound'];
  relay: RelayConfig;
  heloName: string;
  log: Logger;
  registry?: Registry;
}

/** Results of relay connections: ok, or why none carried mail. */
const RESULTS = ['ok', 'auth_failed', 'tls_failed', 'failed'] as const;

/**
 * A login the relay refused for good (5xx) is not tried again with the same password for this long (as Postfix's
 * smtp_sasl_auth_cache): each queued message would otherwise log in and fail at each retry, and providers lock
 * an account that does so. A changed password file is tried at once; a temporary refusal (454) is not held.
 */
export const AUTH_REFUSAL_HOLD_MS = 10 * 60 * 1000;

/** Pool keys of relay connections start so, apart from any MX connection's. */
export const RELAY_POOL_PREFIX = 'relay|';

export function createRelayDelivery(opts: RelayDeliveryOptions) {
  const { relay, config: cfg, log } = opts;
  const pool = new ConnectionPool<NextHopClient>({
    maxPerKey: cfg.max_connections_per_destination,
    idleTimeout: cfg.idle_timeout,
    maxMessagesPerConnection: cfg.max_messages_per_connection,
  });
  // RFC 4954 §4, §14: the password is protected by TLS only if the peer is the relay; allowed (a private relay
  // with a certificate of its own), but said at start
  if (relay.auth && relay.tls !== 'none' && !relay.tls_verify) {
    log.warn('outbound relay: tls_verify is off, so the relay password goes to whoever answers for the relay host', { relay: `${relay.host}:${relay.port}` });
  }
  const connections = opts.registry ? counter(opts.registry, 'spamgate_relay_connections_total', 'Connections opened to the outbound relay host, by result', ['result']) : undefined;
  for (const result of RESULTS) connections?.inc({ result }, 0);
  // the CA file was checked when the config loaded; read once here
  const tlsCa = relay.tls_ca !== undefined ? readFileSync(relay.tls_ca) : undefined;
  const where = `${relay.host}:${relay.port}`;
  // apart from MX connections, and from another relay setting's (a connection is logged in as one user)
  const poolKey = `${RELAY_POOL_PREFIX}${relay.host}|${relay.tls}|${relay.auth?.username ?? ''}`;

  /** The last permanent login refusal: a digest of the password refused (never the password), until when, the error. */
  let refused: { digest: string; until: number; message: string; reply?: NextHopReply } | undefined;
  const digestOf = (password: string): string => createHash('sha256').update(password).digest('hex');
  /**
   * A part of the pool key naming the password now in the file (a digest, never the password): connections logged
   * in with a password since changed are not used again, so a rotated password is in use from the next message
   * (the old connections idle out) rather than after `idle_timeout` or `max_messages_per_connection`.
   */
  const credentialTag = (): string => {
    if (!relay.auth) return '';
    const read = readRelayPassword(relay.auth.password_file);
    return 'error' in read ? 'unreadable' : digestOf(read.password).slice(0, 16);
  };

  const connect = (address: string) => async (): Promise<NextHopClient> => {
    let auth: { username: string; password: string } | undefined;
    if (relay.auth) {
      // read again for each connection, so a new password takes effect without a restart
      const read = readRelayPassword(relay.auth.password_file);
      if ('error' in read) throw new NextHopConnectionError(`relay password: ${read.error}`);
      auth = { username: relay.auth.username, password: read.password };
      if (refused && refused.until > Date.now() && refused.digest === digestOf(read.password)) {
        throw authError(`${refused.message} (this password is tried again at ${new Date(refused.until).toISOString()}, or when its file changes)`, refused.reply);
      }
    }
    try {
      const client = await NextHopClient.connect({
        host: address,
        port: relay.port,
        heloName: opts.heloName,
        connectTimeout: cfg.connect_timeout,
        commandTimeout: cfg.command_timeout,
        starttls: relay.tls === 'starttls' ? 'require' : 'never',
        implicitTls: relay.tls === 'implicit',
        tlsVerify: relay.tls_verify,
        ...sourceAddressFor(cfg, address),
        // the certificate names the relay host (or tls_server_name), not the address it was reached at
        ...(relay.tls_server_name !== undefined ? { servername: relay.tls_server_name } : net.isIP(relay.host) ? {} : { servername: relay.host }),
        ...(tlsCa ? { tlsCa } : {}),
        ...(auth ? { auth } : {}),
      });
      connections?.inc({ result: 'ok' });
      refused = undefined;
      return client;
    } catch (err) {
      const e = err instanceof NextHopConnectionError ? err : undefined;
      connections?.inc({ result: e?.authFailure ? 'auth_failed' : e?.tlsFailure ? 'tls_failed' : 'failed' });
      if (auth && e?.authFailure && e.reply && e.reply.code >= 500) {
        refused = { digest: digestOf(auth.password), until: Date.now() + AUTH_REFUSAL_HOLD_MS, message: e.message, reply: e.reply };
      }
      throw err;
    }
  };

  return {
    poolSize: (key: string): number => pool.size(key),
    async deliver(from: string, domain: string, recipients: string[], message: Buffer, dsn?: DsnParameters): Promise<Map<string, RecipientOutcome>> {
      const results = new Map<string, RecipientOutcome>();
      const addrs: HostAddresses = net.isIP(relay.host) ? { status: 'ok', addresses: [relay.host] } : await addressesOf(opts.resolver, relay.host, cfg.family);
      // a relay without an address is this host's problem, never the recipient's: deferred, not bounced
      let lastTemp: NextHopReply =
        addrs.status === 'temp'
          ? { code: 451, enhanced: '4.4.3', text: `relay ${relay.host}: address lookup failed: ${addrs.reason}`, local: true }
          : { code: 451, enhanced: '4.4.4', text: `relay ${relay.host} has no usable address`, local: true };
      let reporter: string | undefined;
      let remaining = [...recipients];
      const credential = credentialTag();
      for (const address of addrs.status === 'ok' ? addrs.addresses : []) {
        if (!remaining.length) break;
        try {
          const round = await transactWithHost({ pool, key: `${poolKey}|${credential}|${address}:${relay.port}`, connect: connect(address), host: relay.host, from, recipients: remaining, message, dsn, results });
          if (round.lastTemp) {
            lastTemp = round.lastTemp;
            // RFC 3464 §2.3.5: Remote-MTA names an MTA that reported the status; a reply we made up names none
            reporter = round.lastTemp.local ? undefined : relay.host;
          }
          remaining = round.deferred;
          log.info('relayed', { relay: where, address, domain, recipients: recipients.length, deferred: remaining.length });
          break; // the relay answered: what it put off waits for the next attempt
        } catch (err) {
          const e = err as NextHopConnectionError;
          reporter = undefined;
          remaining = remaining.filter((r) => !results.has(r));
          if (e instanceof NextHopConnectionError && e.authFailure) {
            // The relay answered, so another of its addresses would refuse alike (and repeated failures can lock
            // the account): deferred with the server's reply, in the log and in a delay or final notice.
            log.warn('relay authentication failed: mail stays queued', { relay: where, address, error: e.message });
            lastTemp = { code: 451, enhanced: '4.7.0', text: `relay ${relay.host} [${address}]: ${e.message}`, local: true };
            break;
          }
          log.warn('relay connection failed', { relay: where, address, error: e.message });
          if (e instanceof NextHopConnectionError && e.afterBody) {
            // the relay may have the message: no other address now (a duplicate), the queue retries later
            lastTemp = { code: 451, enhanced: '4.4.2', text: `relay ${relay.host} [${address}]: connection lost after the message was sent (it may have been delivered): ${e.message}`, local: true };
            break;
          }
          lastTemp = { code: 451, enhanced: e.tlsFailure ? '4.7.5' : '4.4.1', text: `relay ${relay.host} [${address}]: ${e.message}`, local: true };
        }
      }
      for (const r of remaining) results.set(r, { status: 'temp', reply: lastTemp, destination: 'remote', ...(reporter ? { remoteMta: reporter } : {}) });
      return results;
    },
    close: async (): Promise<void> => {
      await pool.close();
    },
  };
}
