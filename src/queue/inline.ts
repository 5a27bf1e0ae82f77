// Inline mode: nothing is queued; the client's DATA reply is the upstream's reply, so a message is
// accepted only once the next hop has accepted it. Notices the sender asked for are queued.
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import { Registry } from 'prom-client';
import type { Logger } from '../util/logger.ts';
import { loggedReply } from '../util/reply-text.ts';
import { createDsnNotices } from './dsn-notices.ts';
import { successActionAfterHandOver } from './dsn-policy.ts';
import { messageForRemote } from './outgoing-fields.ts';
import type { InlineForwarder, MessageSink, NextHopReply } from './types.ts';
import { createUpstreamSender, type UpstreamRouterOptions } from './upstream-router.ts';

export interface InlineForwarderOptions extends UpstreamRouterOptions {
  /**
   * Where to queue a DSN for recipients the upstream refused with 5xx while others were accepted, and
   * success notices (NOTIFY=SUCCESS) when the upstream does not offer DSN (optional: without it such
   * refusals are only logged).
   */
  bounces?: MessageSink;
  /** Where queued notices are counted (spamgate_bounces_total); without it, a registry of their own. */
  registry?: Registry;
  /** queue.return_full_max_size for RET=FULL failure notices. */
  returnFullMaxBytes?: number;
  /** DKIM-signs the notices it queues. */
  signNotice?: NoticeSigner;
  clock?: { now(): number };
  log: Logger;
}

export interface ClosableInlineForwarder extends InlineForwarder {
  close(): Promise<void>;
}

/**
 * Replies:
 *  - every recipient accepted → the upstream's DATA reply (LMTP: the first non-2xx, else the first 2xx);
 *  - any recipient refused with 4xx → that reply (the client retries the whole message: the others may
 *    get a duplicate, but nothing is lost);
 *  - every recipient refused with 5xx → the first refusal;
 *  - some 5xx, the rest accepted → the data goes to the accepted ones and the 5xx ones get a DSN.
 * DSN requests go to the upstream when it offers DSN (RFC 3461 §5.2.1); when it does not, accepted
 * recipients that asked for SUCCESS get a "relayed" notice (§5.2.2).
 */
export function createInlineForwarder(opts: InlineForwarderOptions): ClosableInlineForwarder {
  const sender = createUpstreamSender(opts);
  const notices = opts.bounces
    ? createDsnNotices({
        sink: opts.bounces,
        hostname: opts.hostname,
        clock: opts.clock ?? Date,
        log: opts.log,
        registry: opts.registry ?? new Registry(),
        ...(opts.returnFullMaxBytes !== undefined ? { returnFullMaxBytes: opts.returnFullMaxBytes } : {}),
        ...(opts.signNotice ? { sign: opts.signNotice } : {}),
      })
    : undefined;
  // The cause (addresses, ports, the next hop's greeting) is logged with the session id; the client, which is
  // outside, is not shown how the inside is laid out.
  const unavailable = (): NextHopReply => ({ code: 451, enhanced: '4.4.1', text: 'next hop unavailable, try again later' });
  return {
    async forward(envelope, message) {
      let result;
      try {
        // one transaction, whose reply is the client's: signed (BATV) only when no recipient is one of ours
        const isLocal = opts.isLocal;
        const allRemote = !isLocal || envelope.rcptTo.every((r) => !isLocal(r));
        const from = allRemote && opts.handOffSender ? opts.handOffSender(envelope) : envelope.mailFrom;
        // one copy for all: our own outgoing mail with any recipient of another domain leaves without spamgate's fields
        const someRemote = !isLocal || envelope.rcptTo.some((r) => !isLocal(r));
        result = await sender.send(from, envelope.rcptTo, someRemote ? messageForRemote(envelope, message) : message, envelope);
      } catch (err) {
        opts.log.warn('inline forward failed', { session: envelope.sessionId, err });
        return unavailable();
      }
      const replies = envelope.rcptTo.map((r) => ({ r, reply: finalReply(result.recipients.get(r)) }));
      const ok = replies.filter((x) => x.reply.code >= 200 && x.reply.code < 300);
      const temp = replies.find((x) => x.reply.code >= 400 && x.reply.code < 500);
      if (!ok.length) return (temp ?? replies[0])?.reply ?? unavailable();
      if (temp) {
        opts.log.warn('inline forward: a recipient was deferred, asking the client to retry', { session: envelope.sessionId, rcpt: temp.r, reply: loggedReply(temp.reply) });
        return temp.reply;
      }
      const failed = replies.filter((x) => x.reply.code >= 400);
      if (failed.length) {
        opts.log.warn('inline forward: some recipients refused by the next hop', { session: envelope.sessionId, refused: failed.map((f) => `${f.r}: ${loggedReply(f.reply)}`) });
        const perm = failed.filter((f) => f.reply.code >= 500);
        await notices?.send({ kind: 'failure', queueId: envelope.sessionId, envelope, recipients: perm.map((f) => ({ recipient: f.r, action: 'failed', reply: f.reply, remoteMta: sender.host })), original: message });
      }
      const successAction = successActionAfterHandOver(result.dsnPassedOn, sender.lmtp);
      if (successAction) {
        await notices?.send({ kind: 'success', queueId: envelope.sessionId, envelope, recipients: ok.map((x) => ({ recipient: x.r, action: successAction, reply: x.reply, remoteMta: sender.host })), original: message });
      }
      return (ok[0] as { reply: NextHopReply }).reply;
    },
    close: () => sender.close(),
  };
}

/**
 * The reply to hand back to our client: only 2xx, 4xx and 5xx are final (RFC 5321 §4.2.1). Anything
 * else from the next hop (a 1xx, a 3xx after the data) is a broken peer: the client is asked to retry,
 * never told 250 for mail nobody accepted.
 */
function finalReply(reply: NextHopReply | undefined): NextHopReply {
  if (!reply) return { code: 451, enhanced: '4.4.0', text: 'no reply from the next hop' };
  const cls = Math.floor(reply.code / 100);
  if (cls === 2 || cls === 4 || cls === 5) return reply;
  return { code: 451, enhanced: '4.4.0', text: `unexpected reply from the next hop: ${reply.code} ${reply.text}`.slice(0, 400) };
}
