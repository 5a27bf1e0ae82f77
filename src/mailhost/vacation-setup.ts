// Out-of-office replies at run time: after a message is stored in a user's INBOX (the administrator's reply), or
// when the user's Sieve script asked for one (RFC 5230), decides (vacation-rules), remembers the sender
// (vacation-store), builds the reply (vacation-reply), DKIM-signs it like spamgate's other notices and queues it
// on the normal outbound path (retried like any message); counted in spamgate_vacation_replies_total{result}
// and logged. A failure here never fails the delivery.
import { createHash } from 'node:crypto';
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import type { MessageSink } from '../queue/types.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { VacationAction } from '../sieve/execute.ts';
import { fromAddress } from '../sieve/vacation-args.ts';
import type { UserDirectory } from './directory.ts';
import type { VacationConfig } from '../config/sections/mailhost.ts';
import { buildVacationReply } from './vacation-reply.ts';
import { decideVacation, headerFieldsOf, SUPPRESS_REASONS } from './vacation-rules.ts';
import { createVacationStore } from './vacation-store.ts';

export interface DeliveredToInbox {
  user: string;
  mailFrom: string;
  raw: Buffer;
  verdictAction?: string;
  queueId: string;
}

export interface Vacation {
  /** Called once per copy stored in a user's INBOX; resolves when the reply (if any) is queued. */
  afterDelivery(sink: MessageSink, sign: NoticeSigner | undefined, d: DeliveredToInbox): Promise<void>;
  /** The reply a Sieve vacation action asks for, in place of the administrator's for this message. */
  sieveReply(sink: MessageSink, sign: NoticeSigner | undefined, d: DeliveredToInbox, action: VacationAction): Promise<void>;
}

/**
 * RFC 5230 §4.2: without :handle, actions that differ in reason, :subject, :from or :mime are different
 * replies (a new text is sent again to those who had the old one); the same arguments, the same handle.
 */
export function vacationHandle(action: VacationAction): string {
  if (action.handle !== undefined) return `h:${action.handle}`;
  return `a:${createHash('sha256').update(JSON.stringify([action.reason, action.subject ?? null, action.from ?? null, action.mime])).digest('hex').slice(0, 32)}`;
}

export interface VacationDeps {
  directory: Pick<UserDirectory, 'lookup' | 'ownsAddress'>;
  dataDir: string;
  fsync: boolean;
  clock: Clock;
  log: Logger;
  registry: Registry;
}

export function createVacation(deps: VacationDeps): Vacation {
  const replies = counter(
    deps.registry,
    'spamgate_vacation_replies_total',
    `Out-of-office replies of mail host users, by result (sent; failed to queue; suppressed: ${SUPPRESS_REASONS.join(', ')})`,
    ['result'],
  );
  for (const result of ['sent', 'failed', ...SUPPRESS_REASONS]) replies.inc({ result }, 0);
  const memory = createVacationStore(deps.dataDir, deps.fsync);
  const log = deps.log.child({ component: 'vacation' });

  /** Decides, claims and queues one reply; the administrator's when `sieve` is absent. */
  const reply = async (sink: MessageSink, sign: NoticeSigner | undefined, d: DeliveredToInbox, setting: VacationConfig, sieve?: VacationAction): Promise<void> => {
    const nowMs = deps.clock.now();
    const via = sieve ? 'sieve' : 'admin';
    try {
      const fields = headerFieldsOf(d.raw);
      // RFC 5230 §4.5: the user's addresses, and those the script names in :addresses, count as the user's
      const extra = new Set((sieve?.addresses ?? []).map((a) => a.toLowerCase()));
      const decision = decideVacation({
        setting,
        user: d.user,
        mailFrom: d.mailFrom,
        fields,
        ...(d.verdictAction !== undefined ? { verdictAction: d.verdictAction } : {}),
        isUsersAddress: (a) => extra.has(a.toLowerCase()) || deps.directory.ownsAddress(d.user, a),
        nowMs,
      });
      if (decision.kind === 'suppressed') {
        replies.inc({ result: decision.reason });
        log.info('vacation reply suppressed', { id: d.queueId, user: d.user, from: d.mailFrom, reason: decision.reason, via });
        return;
      }
      if (!(await memory.claim(d.user, d.mailFrom, setting.days, nowMs, sieve ? vacationHandle(sieve) : undefined))) {
        replies.inc({ result: 'already_replied' });
        log.info('vacation reply suppressed', { id: d.queueId, user: d.user, from: d.mailFrom, reason: 'already_replied', days: setting.days, via });
        return;
      }
      // RFC 5230 §4.3: a :from that is not one of the user's addresses is not used (no replies in others' names)
      const from = sieve?.from !== undefined && deps.directory.ownsAddress(d.user, fromAddress(sieve.from)) ? sieve.from : undefined;
      const built = buildVacationReply({ setting, user: d.user, to: d.mailFrom, fields, nowMs, queueId: d.queueId, ...(from !== undefined ? { from } : {}), ...(sieve?.mime ? { mime: true } : {}) });
      const message = sign ? await sign(built.message) : built.message;
      const { id } = await sink.enqueue(built.envelope, message);
      replies.inc({ result: 'sent' });
      log.info('vacation reply queued', { id: d.queueId, reply: id, user: d.user, to: d.mailFrom, via });
    } catch (err) {
      replies.inc({ result: 'failed' });
      log.error('vacation reply not queued', { id: d.queueId, user: d.user, to: d.mailFrom, err, via });
    }
  };

  return {
    async afterDelivery(sink, sign, d) {
      const setting = deps.directory.lookup(d.user)?.vacation;
      if (setting) await reply(sink, sign, d, setting);
    },
    async sieveReply(sink, sign, d, action) {
      // one line of at most 200 characters, as the administrator's subject (no header can be added through it)
      const subject = action.subject?.replace(/[\r\n\t]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '').slice(0, 200);
      const setting: VacationConfig = { message: action.reason, days: action.days, ...(subject ? { subject } : {}) };
      await reply(sink, sign, d, setting, action);
    },
  };
}
