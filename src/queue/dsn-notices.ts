// Sends the delivery status notifications a sender asked for: keeps only the recipients whose NOTIFY
// wants this kind of notice (RFC 3461 §4.1), never writes to the null reverse path, queues the
// RFC 3464 report like any other message and counts it (spamgate_bounces_total), whoever sends it.
import type { Registry } from 'prom-client';
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { Logger } from '../util/logger.ts';
import { buildDsn, type DsnRecipient } from './dsn.ts';
import { wantsNotice, type NoticeKind } from './dsn-policy.ts';
import { createQueueMetrics } from './queue-metrics.ts';
import type { MessageSink, QueueEnvelope } from './types.ts';

export interface DsnNoticeOptions {
  /** Where the notices are queued (the spool). */
  sink: MessageSink;
  /** This MTA's name (Reporting-MTA). */
  hostname: string;
  clock: { now(): number };
  log: Logger;
  /** Each notice queued is counted here by kind (the queue scheduler and inline mode alike). */
  registry: Registry;
  /** queue.return_full_max_size: RET=FULL returns the message whole up to this size. */
  returnFullMaxBytes?: number;
  /** DKIM-signs each notice before it is queued (dkim.sign has a key for the hostname's domain). */
  sign?: NoticeSigner;
}

export interface NoticeRequest {
  kind: NoticeKind;
  /** Queue id (or session id) of the message reported on. */
  queueId: string;
  envelope: QueueEnvelope;
  /** Every recipient this notice could be about; those that did not ask for it are left out here. */
  recipients: DsnRecipient[];
  original: Buffer;
  /** For delay notices: when the queue gives up. */
  expiresAt?: number;
}

export interface DsnNotices {
  /** Queues the notice; resolves to its queue id, or undefined when nobody is to be told. */
  send(request: NoticeRequest): Promise<string | undefined>;
}

export function createDsnNotices(opts: DsnNoticeOptions): DsnNotices {
  const { bounces } = createQueueMetrics(opts.registry);
  return {
    async send(request) {
      const { kind, envelope } = request;
      // RFC 5321 §4.5.5 / RFC 3461 §6.1: nothing goes to the null reverse path (that is how bounce loops end).
      if (envelope.mailFrom === '') return undefined;
      const recipients = request.recipients.filter((r) => wantsNotice(envelope, r.recipient, kind));
      if (!recipients.length) return undefined;
      const dsn = buildDsn({
        kind,
        hostname: opts.hostname,
        queueId: request.queueId,
        envelope,
        recipients,
        original: request.original,
        now: opts.clock.now(),
        ...(request.expiresAt !== undefined ? { expiresAt: request.expiresAt } : {}),
        ...(opts.returnFullMaxBytes !== undefined ? { returnFullMaxBytes: opts.returnFullMaxBytes } : {}),
      });
      const message = opts.sign ? await opts.sign(dsn.message) : dsn.message;
      const { id } = await opts.sink.enqueue(dsn.envelope, message);
      bounces.inc({ kind });
      const what = kind === 'failure' ? 'bounce queued' : kind === 'delay' ? 'delay warning queued' : 'success notice queued';
      opts.log.info(what, { id: request.queueId, dsn: id, to: envelope.mailFrom, recipients: recipients.map((r) => r.recipient) });
      return id;
    },
  };
}
