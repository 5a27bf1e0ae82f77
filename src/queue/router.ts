// Routing by destination: the scheduler hands a message and its pending recipients to a Router
// and gets one outcome per recipient. Full-stack mode splits local from remote recipients here.
import type { SuccessAction } from './dsn-policy.ts';
import { forEachLimit } from './map-limit.ts';
import { messageForRemote } from './outgoing-fields.ts';
import type { DsnParameters, HandOffSender, NextHopReply, QueueEnvelope } from './types.ts';

export type Destination = 'upstream' | 'local' | 'remote';

export type RecipientOutcome = {
  status: 'delivered' | 'temp' | 'perm';
  reply: NextHopReply;
  destination: Destination;
  /** The host that gave the reply (DSN Remote-MTA). */
  remoteMta?: string;
  /** Delivered, and a success notice is ours to send if the sender asked (absent: a next hop took that over). */
  successAction?: SuccessAction;
};

export interface DeliveryJob {
  id: string;
  envelope: QueueEnvelope;
  /** Recipients still pending; every one gets an outcome. */
  recipients: string[];
  message: Buffer;
}

export interface Router {
  route(job: DeliveryJob): Promise<Map<string, RecipientOutcome>>;
  close(): Promise<void>;
}

/** 2xx delivered, 5xx permanent, anything else (4xx, garbage) temporary. */
export function classify(reply: NextHopReply): RecipientOutcome['status'] {
  if (reply.code >= 200 && reply.code < 300) return 'delivered';
  if (reply.code >= 500 && reply.code < 600) return 'perm';
  return 'temp';
}

export function outcome(reply: NextHopReply, destination: Destination, remoteMta?: string, successAction?: SuccessAction): RecipientOutcome {
  const status = classify(reply);
  // RFC 3464 §2.3.5: Remote-MTA names the MTA that reported the status; a reply spamgate made itself has none
  return { status, reply, destination, ...(remoteMta && !reply.local ? { remoteMta } : {}), ...(status === 'delivered' && successAction ? { successAction } : {}) };
}

/**
 * What local delivery answers for one recipient (the mail host supplies it). successAction for a
 * success notice defaults to "delivered"; null when the copy only went on to a forwarding address
 * whose own delivery will report.
 */
export type LocalDeliveryOutcome =
  | { status: 'ok'; reply?: NextHopReply; successAction?: 'delivered' | 'expanded' | null }
  | { status: 'temp'; reply: NextHopReply }
  | { status: 'perm'; reply: NextHopReply };

export type DeliverLocal = (envelope: QueueEnvelope, recipient: string, raw: Buffer, queueId: string) => Promise<LocalDeliveryOutcome>;

/** Remote delivery of one message to the recipients of one domain, with the sender's DSN requests (src/mailhost/outbound.ts). */
export interface RemoteDelivery {
  deliver(from: string, domain: string, recipients: string[], message: Buffer, dsn?: DsnParameters): Promise<Map<string, RecipientOutcome>>;
  close(): Promise<void>;
}

export interface FullStackRouterOptions {
  deliverLocal: DeliverLocal;
  /** True when the recipient's domain is one of ours. */
  isLocal: (recipient: string) => boolean;
  outbound: RemoteDelivery;
  /** The sender remote copies go out with (BATV); local deliveries keep the envelope's. */
  handOffSender?: HandOffSender;
}

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return (at < 0 ? '' : address.slice(at + 1)).toLowerCase();
}

/** Remote domains (each an MX lookup and a connection) and local mailbox deliveries in flight per message. */
export const MAX_PARALLEL_DOMAINS = 8;
export const MAX_PARALLEL_LOCAL = 8;

export function createFullStackRouter(opts: FullStackRouterOptions): Router {
  return {
    async route(job) {
      const results = new Map<string, RecipientOutcome>();
      const remote = new Map<string, string[]>();
      const local: string[] = [];
      // Recipients grouped per domain: one MX plan and one transaction (per host) for each.
      for (const rcpt of job.recipients) {
        if (opts.isLocal(rcpt)) local.push(rcpt);
        else {
          const d = domainOf(rcpt);
          const list = remote.get(d);
          if (list) list.push(rcpt);
          else remote.set(d, [rcpt]);
        }
      }
      const deliverOneLocal = async (rcpt: string): Promise<void> => {
        try {
          const r = await opts.deliverLocal(job.envelope, rcpt, job.message, job.id);
          const reply = r.reply ?? { code: 250, enhanced: '2.0.0', text: 'delivered' };
          if (r.status !== 'ok') return void results.set(rcpt, { status: r.status, reply, destination: 'local' });
          // RFC 3461 §5.2.3: final delivery here; the success notice, if asked for, is ours.
          const successAction = r.successAction === undefined ? 'delivered' : r.successAction;
          results.set(rcpt, { status: 'delivered', reply, destination: 'local', ...(successAction ? { successAction } : {}) });
        } catch (err) {
          results.set(rcpt, { status: 'temp', reply: { code: 451, enhanced: '4.3.0', text: `local delivery error: ${(err as Error).message}` }, destination: 'local' });
        }
      };
      // signed once per attempt, at the time of sending (a tag's days count from then), for every remote domain
      const from = remote.size && opts.handOffSender ? opts.handOffSender(job.envelope) : job.envelope.mailFrom;
      // our own outgoing mail leaves without spamgate's fields; local copies keep them (outgoing-fields.ts)
      const remoteMessage = remote.size ? messageForRemote(job.envelope, job.message) : job.message;
      const deliverDomain = async ([domain, rcpts]: [string, string[]]): Promise<void> => {
        try {
          for (const [r, o] of await opts.outbound.deliver(from, domain, rcpts, remoteMessage, job.envelope)) results.set(r, o);
        } catch (err) {
          for (const r of rcpts) results.set(r, { status: 'temp', reply: { code: 451, enhanced: '4.4.0', text: `remote delivery error: ${(err as Error).message}` }, destination: 'remote' });
        }
      };
      await Promise.all([forEachLimit(local, MAX_PARALLEL_LOCAL, deliverOneLocal), forEachLimit([...remote], MAX_PARALLEL_DOMAINS, deliverDomain)]);
      return results;
    },
    close: () => opts.outbound.close(),
  };
}
