// Front-of mode: every recipient goes to the configured upstream over SMTP or LMTP, on pooled
// connections; a broken or unreachable upstream makes every recipient temporary (retried).
import type { Config } from '../config/schema.ts';
import { NextHopClient, NextHopConnectionError, type TransactionResult } from '../smtp/next-hop-client.ts';
import { originOf } from '../smtp/next-hop-xforward.ts';
import { sendPooled } from './pooled-send.ts';
import type { Logger } from '../util/logger.ts';
import { ConnectionPool } from './connection-pool.ts';
import { successActionAfterHandOver } from './dsn-policy.ts';
import { outcome, type RecipientOutcome, type Router } from './router.ts';
import type { QueueEnvelope } from './types.ts';

export type UpstreamConfig = NonNullable<Config['delivery']['upstream']>;

export interface UpstreamRouterOptions {
  upstream: UpstreamConfig;
  /** Name for EHLO/LHLO. */
  hostname: string;
  log: Logger;
  /** Verify the upstream's certificate when STARTTLS is on (default false). */
  tlsVerify?: boolean;
  /** Idle pooled connections are closed after this many ms (default 30 s). */
  idleTimeout?: number;
  maxMessagesPerConnection?: number;
}

/** Sends one transaction to the upstream, retrying once on a fresh connection if a reused one had gone stale. */
export interface UpstreamSender {
  /** The envelope's DSN parameters go on with the message, and its client with XFORWARD when that is on. */
  send(from: string, rcptTo: string[], message: Buffer, envelope?: QueueEnvelope): Promise<TransactionResult>;
  readonly label: string;
  readonly lmtp: boolean;
  close(): Promise<void>;
}

export function createUpstreamSender(opts: UpstreamRouterOptions): UpstreamSender {
  const u = opts.upstream;
  const pool = new ConnectionPool<NextHopClient>({
    maxPerKey: u.max_connections,
    idleTimeout: opts.idleTimeout ?? 30_000,
    maxMessagesPerConnection: opts.maxMessagesPerConnection ?? 1000,
  });
  const label = `${u.host}:${u.port}`;
  const create = (): Promise<NextHopClient> =>
    NextHopClient.connect({
      host: u.host,
      port: u.port,
      lmtp: u.protocol === 'lmtp',
      heloName: opts.hostname,
      connectTimeout: Math.min(u.timeout, 30_000),
      commandTimeout: u.timeout,
      starttls: u.starttls ? 'require' : 'never',
      tlsVerify: opts.tlsVerify ?? false,
      xforward: u.xforward,
    });
  return {
    label,
    lmtp: u.protocol === 'lmtp',
    async send(from, rcptTo, message, envelope) {
      return sendPooled(pool, 'upstream', create, from, rcptTo, message, envelope, envelope ? originOf(envelope) : undefined);
    },
    close: () => pool.close(),
  };
}

export function createUpstreamRouter(opts: UpstreamRouterOptions): Router {
  const sender = createUpstreamSender(opts);
  return {
    async route(job) {
      const results = new Map<string, RecipientOutcome>();
      try {
        const tx = await sender.send(job.envelope.mailFrom, job.recipients, job.message, job.envelope);
        const successAction = successActionAfterHandOver(tx.dsnPassedOn, sender.lmtp);
        for (const r of job.recipients) {
          const reply = tx.recipients.get(r) ?? { code: 451, enhanced: '4.4.0', text: 'no reply for this recipient' };
          results.set(r, outcome(reply, 'upstream', sender.label, successAction));
        }
      } catch (err) {
        const text = `upstream ${sender.label} unavailable: ${(err as Error).message}`;
        opts.log.warn('upstream delivery failed', { id: job.id, err });
        const reply = err instanceof NextHopConnectionError && err.reply && err.reply.code >= 400 && err.reply.code < 500 ? err.reply : { code: 451, enhanced: '4.4.1', text };
        // A connection-level failure is never permanent: the upstream may come back (RFC 5321 §4.5.4.1).
        for (const r of job.recipients) results.set(r, { status: 'temp', reply, destination: 'upstream', remoteMta: sender.label });
      }
      return results;
    },
    close: () => sender.close(),
  };
}
