// Front-of mode: every recipient goes to the configured upstream over SMTP or LMTP, on pooled
// connections; a broken or unreachable upstream makes every recipient temporary (retried).
import type { Config } from '../config/schema.ts';
import { NextHopClient, NextHopConnectionError, type TransactionResult } from '../smtp/next-hop-client.ts';
import { originOf } from '../smtp/next-hop-xforward.ts';
import { sendPooled } from './pooled-send.ts';
import { upstreamTlsOptions } from './upstream-tls.ts';
import type { Logger } from '../util/logger.ts';
import { ConnectionPool } from './connection-pool.ts';
import { successActionAfterHandOver } from './dsn-policy.ts';
import { messageForRemote } from './outgoing-fields.ts';
import { outcome, type DeliveryJob, type RecipientOutcome, type Router } from './router.ts';
import type { HandOffSender, QueueEnvelope } from './types.ts';

export type UpstreamConfig = NonNullable<Config['delivery']['upstream']>;

export interface UpstreamRouterOptions {
  upstream: UpstreamConfig;
  /** Name for EHLO/LHLO. */
  hostname: string;
  log: Logger;
  /** Idle pooled connections are closed after this many ms (default 30 s). */
  idleTimeout?: number;
  maxMessagesPerConnection?: number;
  /** The sender mail for other domains is handed on with (BATV); recipients for which isLocal holds keep the envelope's. */
  handOffSender?: HandOffSender;
  isLocal?: (rcpt: string) => boolean;
}

/**
 * The recipients of one hand-off grouped by the sender they go with: with a signed sender (BATV), the recipients
 * of our own domains apart with the envelope's (the upstream delivers those itself, and replies to the sender it
 * sees must find a user there), the others with the signed one.
 */
export function groupBySender(opts: Pick<UpstreamRouterOptions, 'handOffSender' | 'isLocal'>, envelope: QueueEnvelope, recipients: string[]): Array<[string, string[]]> {
  const isLocal = opts.isLocal ?? ((): boolean => false);
  const local = recipients.filter((r) => isLocal(r));
  const remote = recipients.filter((r) => !isLocal(r));
  // signed only when some recipient is another domain's (counted once per hand-off)
  const signed = remote.length && opts.handOffSender ? opts.handOffSender(envelope) : envelope.mailFrom;
  if (signed === envelope.mailFrom) return [[signed, recipients]];
  return ([[envelope.mailFrom, local], [signed, remote]] as Array<[string, string[]]>).filter(([, rcpts]) => rcpts.length > 0);
}

/**
 * The recipients of one sender by the copy they get: our own outgoing mail goes to the upstream without spamgate's
 * X-Spamgate-* fields for the recipients it hands on to other domains, with them for our own (isLocal; none without
 * it) (outgoing-fields.ts). Received mail is one copy for all, the verdict kept for the inner MTA.
 */
export function byCopy(opts: Pick<UpstreamRouterOptions, 'isLocal'>, job: Pick<DeliveryJob, 'envelope' | 'message'>, recipients: string[]): Array<[Buffer, string[]]> {
  const remoteCopy = messageForRemote(job.envelope, job.message);
  if (remoteCopy === job.message) return [[job.message, recipients]];
  const isLocal = opts.isLocal ?? ((): boolean => false);
  const local = recipients.filter((r) => isLocal(r));
  const remote = recipients.filter((r) => !isLocal(r));
  return ([[job.message, local], [remoteCopy, remote]] as Array<[Buffer, string[]]>).filter(([, rcpts]) => rcpts.length > 0);
}

/** Sends one transaction to the upstream, retrying once on a fresh connection if a reused one had gone stale. */
export interface UpstreamSender {
  /** The envelope's DSN parameters go on with the message, and its client with XFORWARD when that is on. */
  send(from: string, rcptTo: string[], message: Buffer, envelope?: QueueEnvelope): Promise<TransactionResult>;
  readonly label: string;
  /** The upstream's name as delivery notices give it (Remote-MTA): its host, without the port. */
  readonly host: string;
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
  const tls = upstreamTlsOptions(u);
  const create = (): Promise<NextHopClient> =>
    NextHopClient.connect({
      host: u.host,
      port: u.port,
      lmtp: u.protocol === 'lmtp',
      heloName: opts.hostname,
      connectTimeout: Math.min(u.timeout, 30_000),
      commandTimeout: u.timeout,
      // RFC 5321 §4.5.3.2.6 (10 minutes by default), never less than twice a command's time
      dataTimeout: Math.max(u.data_timeout, 2 * u.timeout),
      ...tls,
      xforward: u.xforward,
    });
  return {
    label,
    host: u.host,
    lmtp: u.protocol === 'lmtp',
    async send(from, rcptTo, message, envelope) {
      return sendPooled(pool, 'upstream', create, from, rcptTo, message, envelope, envelope ? originOf(envelope) : undefined);
    },
    close: () => pool.close(),
  };
}

/** Further transactions for recipients the upstream put off with 452 after taking others (RFC 5321 §4.5.3.1.10). */
const MAX_452_ROUNDS = 20;

export function createUpstreamRouter(opts: UpstreamRouterOptions): Router {
  const sender = createUpstreamSender(opts);
  return {
    async route(job) {
      const results = new Map<string, RecipientOutcome>();
      for (const [from, recipients] of groupBySender(opts, job.envelope, job.recipients)) {
        for (const [message, rcpts] of byCopy(opts, job, recipients)) await handOver(job, from, rcpts, message, results);
      }
      return results;
    },
    close: () => sender.close(),
  };

  /** One sender's recipients to the upstream, with further transactions for those it put off with 452. */
  async function handOver(job: DeliveryJob, from: string, recipients: string[], message: Buffer, results: Map<string, RecipientOutcome>): Promise<void> {
    let batch = recipients;
    try {
      for (let round = 0; batch.length && round < MAX_452_ROUNDS; round++) {
        const tx = await sender.send(from, batch, message, job.envelope);
        const successAction = successActionAfterHandOver(tx.dsnPassedOn, sender.lmtp);
        const tooMany: string[] = [];
        let tookSome = false;
        for (const r of batch) {
          const reply = tx.recipients.get(r) ?? { code: 451, enhanced: '4.4.0', text: 'no reply for this recipient' };
          const o = outcome(reply, 'upstream', sender.host, successAction);
          results.set(r, o);
          if (o.status === 'delivered') tookSome = true;
          // an LMTP 452 may be the recipient's own reply to the data (RFC 2033 §4.2), not the recipient limit
          else if (o.status === 'temp' && reply.code === 452 && !reply.local && (!sender.lmtp || reply.enhanced === '4.5.3')) tooMany.push(r);
        }
        // RFC 5321 §4.5.3.1.10: 452 after others were taken is the upstream's recipient limit: the rest go in a
        // new transaction now, not after the queue's retry delay (a limit of 10 made 25 recipients take 3 attempts).
        batch = tookSome ? tooMany : [];
      }
    } catch (err) {
      const text = `upstream ${sender.label} unavailable: ${(err as Error).message}`;
      opts.log.warn('upstream delivery failed', { id: job.id, err });
      const reply = err instanceof NextHopConnectionError && err.reply && err.reply.code >= 400 && err.reply.code < 500 ? err.reply : { code: 451, enhanced: '4.4.1', text };
      // A connection-level failure is never permanent: the upstream may come back (RFC 5321 §4.5.4.1). The
      // recipients of earlier rounds keep their outcome.
      for (const r of batch) results.set(r, { status: 'temp', reply, destination: 'upstream', remoteMta: sender.host });
    }
  }
}
