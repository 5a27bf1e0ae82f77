// Delivery of one message to one local user: the user's Sieve script (if any) decides the copies and redirects;
// each copy is stored through local delivery (quota, duplicates, Delivered-To loops apply to every copy), a
// folder that cannot be made falls back to the implicit keep, the out-of-office reply follows a copy kept
// outside Junk (a Sieve vacation action replaces it), each redirect is queued like an alias forward (SRS sender,
// Delivered-To marking the hop; mail judged spam keeps that verdict), and a Sieve reject fails the delivery so the
// sender gets a notice (sieve-reject).
import { LRUCache } from 'lru-cache';
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { ForwardSealer } from './arc-forward.ts';
import type { LocalDeliveryOutcome } from '../queue/router.ts';
import type { MessageSink, NextHopReply, QueueEnvelope, QueuedVerdict } from '../queue/types.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { ProgressRecord } from '../queue/spool-progress.ts';
import { replyForDelivery, withDeliveredTo, type LocalDelivery } from './local-delivery.ts';
import type { SieveVerdict } from '../sieve/spamtest.ts';
import type { PlannedCopy, SieveFiltering } from './sieve-delivery.ts';
import { decideReject, judgedSpam } from './sieve-reject.ts';
import type { Srs } from './srs-setup.ts';
import { SPAM_ACTIONS } from './vacation-rules.ts';
import type { Vacation } from './vacation-setup.ts';

export interface MailboxDeliveryDeps {
  local: LocalDelivery;
  sieve: SieveFiltering;
  vacation: Vacation;
  lookup: (user: string) => { name: string } | undefined;
  srs: Srs | undefined;
  clock: Clock;
  log: Logger;
  /** How long a redirect is remembered, so a retried delivery does not send it again (ms). */
  duplicateWindowMs: number;
  /** Counts a Sieve reject's notice not sent because the filter judged the message spam. */
  spamNoticeSuppressed?: () => void;
}

/** `sieveReject`: the failure is the user's Sieve reject (the caller decides whether the sender hears of it). */
export type MailboxOutcome = LocalDeliveryOutcome | { status: 'perm'; reply: NextHopReply; sieveReject: true };

export interface MailboxDelivery {
  /**
   * `seal`: ARC-seals each redirected copy (arc.seal). `record`: the queued message's durable record of the copies
   * stored and redirects queued (spool progress/), so that a retry after a restart does neither again.
   * `severalStepsRecord`: that record for a recipient of one target, kept only when the user's script does several
   * things (copies and redirects): one step retried repeats nothing, so a plain delivery reads and writes no record.
   */
  deliver(
    sink: MessageSink,
    sign: NoticeSigner | undefined,
    m: { envelope: QueueEnvelope; recipient: string; mailbox: string; raw: Buffer; queueId: string; junk: boolean; seal?: ForwardSealer; record?: ProgressRecord; severalStepsRecord?: ProgressRecord },
  ): Promise<MailboxOutcome>;
}

export function createMailboxDelivery(deps: MailboxDeliveryDeps): MailboxDelivery {
  const redirected = new LRUCache<string, true>({ max: 50_000, ttl: deps.duplicateWindowMs, perf: deps.clock });
  // out-of-office replies sent (or decided against) per message and user: one per message, whatever the retries
  const replied = new LRUCache<string, true>({ max: 50_000, ttl: deps.duplicateWindowMs, perf: deps.clock });
  // spam Sieve rejects already counted: an alias retried for another member runs the script again, one notice unsent
  const suppressed = new LRUCache<string, true>({ max: 50_000, ttl: deps.duplicateWindowMs, perf: deps.clock });
  return {
    async deliver(sink, sign, { envelope, recipient, mailbox, raw, queueId, junk, seal, record: given, severalStepsRecord }) {
      const user = deps.lookup(mailbox)?.name ?? mailbox;
      const client = { ...(envelope.clientIp ? { ip: envelope.clientIp } : {}), ...(envelope.client?.name !== undefined ? { name: envelope.client.name } : {}) };
      const plan = await deps.sieve.plan({ user, mailFrom: envelope.mailFrom, recipient, raw, queueId, verdict: sieveVerdictOf(envelope, recipient), client });
      if (plan.reject) {
        const decision = decideReject(envelope, junk, plan.reject.reason);
        if (decision.kind === 'dropped') {
          deps.log.info('sieve reject: message dropped without a notice', { id: queueId, user, from: envelope.mailFrom, why: decision.why });
          if (decision.why === 'spam') {
            const key = `${queueId}\0${recipient.toLowerCase()}\0${user}`;
            const step = `sieve-reject\0${recipient.toLowerCase()}\0${user}`;
            if (!suppressed.has(key) && !(await given?.has(step))) {
              deps.spamNoticeSuppressed?.();
              suppressed.set(key, true);
              await given?.add(step).catch((err: unknown) => deps.log.warn('delivery progress not recorded', { id: queueId, user, err }));
            }
          }
          return { status: 'ok' };
        }
        if (decision.outcome.status !== 'perm') return decision.outcome;
        deps.log.info('sieve reject: the delivery to the user fails with the reason', { id: queueId, user, from: envelope.mailFrom });
        return { ...decision.outcome, sieveReject: true };
      }
      const copies = oneCopyPerFolder(plan.copies, junk ? 'Junk' : 'INBOX');
      // a step done before a later one defers (fileinto "A" then a copy over quota, a redirect that cannot be queued)
      // is not done again at the retry, after a restart too
      const record = given ?? (copies.length + plan.redirects.length > 1 ? severalStepsRecord : undefined);
      let worst: LocalDeliveryOutcome = { status: 'ok' };
      let answerable = false;
      // a copy of the message is in one of the user's folders (Junk too): without one, a delivery that failed for good
      // (every copy larger than the whole quota) is bounced, and no out-of-office reply goes with the bounce
      let stored = false;
      // bounded: the planned copies, and at most one implicit keep added for those that failed
      for (let i = 0; i < copies.length; i++) {
        const copy = copies[i] as PlannedCopy;
        const result = await deps.local.deliverLocal({
          mailFrom: envelope.mailFrom,
          recipient,
          mailbox,
          raw,
          junk,
          deliveryId: queueId,
          ...(record ? { record } : {}),
          ...(copy.folder !== undefined ? { folder: copy.folder } : {}),
          ...(copy.flags.length ? { flags: copy.flags } : {}),
        });
        if (result.kind === 'bad-folder') {
          deps.sieve.actionFailed(result.user, queueId, `fileinto ${JSON.stringify(result.folder)}: ${result.reason}`);
          // RFC 5228 §2.10.6: an action that cannot be done leaves the message kept
          if (!copies.some((c) => c.folder === undefined)) copies.push({ flags: [] });
          continue;
        }
        // RFC 3834 §2: a copy stored in Junk is not answered. A duplicate is this delivery's copy stored before (an
        // earlier attempt, another recipient of the message): answered at most once all the same (below)
        if (result.kind === 'delivered' && result.folder !== 'Junk') answerable = true;
        if (result.kind === 'duplicate' && (copy.folder ?? (junk ? 'Junk' : 'INBOX')) !== 'Junk') answerable = true;
        if (result.kind === 'delivered' || result.kind === 'duplicate') {
          stored = true;
          continue;
        }
        const reply = replyForDelivery(result);
        const outcome: LocalDeliveryOutcome = reply.code >= 500 ? { status: 'perm', reply } : { status: 'temp', reply };
        if (outcome.status === 'temp' || worst.status === 'ok') worst = outcome;
      }
      // a copy to be retried: redirects and the out-of-office reply wait for that retry (remembered, so they go once)
      if (worst.status === 'temp') return worst;
      // RFC 7352 §3: the ids are remembered only for a message delivered
      if (worst.status === 'ok') await deps.sieve.delivered(user, queueId, plan);
      for (const address of plan.redirects) {
        const key = `${queueId}\0${user}\0${address.toLowerCase()}`;
        const step = `redirect\0${user}\0${address.toLowerCase()}`;
        if (redirected.has(key)) {
          // queued for another recipient, one that keeps no record (the member addressed directly): recorded here
          // too, or a retry of this alias after a restart would queue it again
          await given?.add(step).catch((err: unknown) => deps.log.warn('delivery progress not recorded', { id: queueId, user, err }));
          continue;
        }
        if (await record?.has(step)) continue;
        // RFC 5228 §4.2: the envelope sender stays (rewritten by SRS as for alias forwards); Delivered-To of the
        // recipient goes on, so the copy is known as a loop if it comes back
        const mailFrom = deps.srs ? deps.srs.forwardSender(envelope.mailFrom, recipient) : envelope.mailFrom;
        const forwarded: QueueEnvelope = { ...envelope, mailFrom, rcptTo: [address], receivedAt: deps.clock.now() };
        delete forwarded.verdict;
        const spamVerdict = redirectedVerdict(envelope, junk, address);
        if (spamVerdict) forwarded.verdict = spamVerdict;
        delete forwarded.rcptDsn;
        delete forwarded.auth;
        // RFC 8617 §5.1: sealed by the redirecting address's domain, on top of this hop's Delivered-To
        const copy = withDeliveredTo(raw, recipient);
        const { id } = await sink.enqueue(forwarded, seal ? await seal(copy, envelope, recipient) : copy);
        redirected.set(key, true);
        // the record this delivery reads (the alias's, or the one kept for a script of several steps)
        await record?.add(step).catch((err: unknown) => deps.log.warn('delivery progress not recorded', { id: queueId, user, err }));
        deps.log.info('sieve redirect queued', { id: queueId, redirect: id, user, to: address });
      }
      // a Sieve vacation action stands in for the administrator's reply for this message (RFC 5230 §4.6 rules apply
      // to both); it does not need a copy in INBOX, as the script decides what becomes of the message. Sent last,
      // once nothing of this delivery is left to retry, and once per message and user (RFC 5230 §4.6: a second
      // reply to the same message is never sent): not again when an alias is retried for another member, nor by a
      // retry after a restart (the progress record), whatever the period since (:days, :seconds or --days) is
      if ((plan.vacation && (stored || worst.status === 'ok')) || answerable) {
        const key = `${queueId}\0${user}`;
        const step = `vacation\0${user}`;
        if (replied.has(key)) {
          // answered for another recipient of the message, one that keeps no record: recorded here too (as redirects)
          await given?.add(step).catch((err: unknown) => deps.log.warn('delivery progress not recorded', { id: queueId, user, err }));
          return worst;
        }
        // claimed before any await: another recipient of the message led to this user, delivered in parallel, waits
        replied.set(key, true);
        if (await record?.has(step)) return worst;
        // recorded before the reply is queued (as the sender in the vacation store): a process stopped between the two
        // loses this reply rather than sending a second one at the retry after the restart
        await record?.add(step).catch((err: unknown) => deps.log.warn('delivery progress not recorded', { id: queueId, user, err }));
        const verdictAction = envelope.verdict?.action;
        const delivered = { user, mailFrom: envelope.mailFrom, raw, queueId, ...(junk ? { verdictAction: 'junk' } : verdictAction !== undefined ? { verdictAction } : {}) };
        if (plan.vacation) await deps.vacation.sieveReply(sink, sign, delivered, plan.vacation);
        else await deps.vacation.afterDelivery(sink, sign, delivered);
      }
      return worst;
    },
  };
}

/**
 * The verdict a redirected copy carries: none for mail the filter did not judge spam (our own ham stays untagged,
 * as the copy is no message we judged); for mail it did, the spam action (junk when only this recipient's copy went
 * to Junk) and, when this recipient's copy went to Junk, the redirect address's: the copy is still spam, so a
 * local target's Sieve reject or failed alias members send no notice to its (most likely forged) sender
 * (judgedSpam, README "Backscatter from local delivery"), nor does its out-of-office reply answer it, and it goes
 * to that target's Junk. No spamtest values: they were the first recipient's thresholds (sieveVerdictOf).
 */
export function redirectedVerdict(envelope: QueueEnvelope, junk: boolean, address: string): QueuedVerdict | undefined {
  if (!judgedSpam(envelope, junk)) return undefined;
  const given = envelope.verdict;
  const action = given !== undefined && SPAM_ACTIONS.has(given.action) ? given.action : 'junk';
  return { action, score: given?.score ?? 0, ...(junk ? { junkRecipients: [address] } : {}) };
}

/**
 * What spamtest and virustest see (RFC 5235): the values the gateway wrote into the spool envelope for this
 * recipient when it judged the message, never a header of the message. A message not judged (released from the
 * quarantine, our own notices, a redirected or forwarded copy, mail from authenticated or trusted clients) has none.
 */
export function sieveVerdictOf(envelope: QueueEnvelope, recipient: string): SieveVerdict {
  const table = envelope.verdict?.spamtest;
  // own keys only: a recipient named "constructor" finds nothing of Object.prototype
  const spam = table && Object.hasOwn(table, recipient) ? table[recipient] : undefined;
  const virus = envelope.verdict?.virustest;
  return { ...(spam ? { spam: { value: spam.value, percent: spam.percent } } : {}), ...(virus !== undefined ? { virus } : {}) };
}

/**
 * RFC 5228 §2.10.3: one copy per mailbox: a fileinto of the folder the keep goes to anyway (INBOX, or Junk for
 * junk) is that keep, with the flags of both.
 */
function oneCopyPerFolder(copies: readonly PlannedCopy[], defaultFolder: string): PlannedCopy[] {
  const keep = copies.find((c) => c.folder === undefined);
  if (!keep) return [...copies];
  const same = copies.filter((c) => c.folder === defaultFolder);
  const flags = [...new Set([...keep.flags, ...same.flatMap((c) => c.flags)])];
  return copies.filter((c) => c.folder !== defaultFolder).map((c) => (c === keep ? { flags } : c));
}
