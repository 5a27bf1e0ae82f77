// Out-of-office replies at run time: after a message is stored in a user's INBOX, decides (vacation-rules),
// remembers the sender (vacation-store), builds the reply (vacation-reply), DKIM-signs it like spamgate's other
// notices and queues it on the normal outbound path (retried like any message); counted in
// spamgate_vacation_replies_total{result} and logged. A failure here never fails the delivery.
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import type { MessageSink } from '../queue/types.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { UserDirectory } from './directory.ts';
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

  return {
    async afterDelivery(sink, sign, d) {
      const setting = deps.directory.lookup(d.user)?.vacation;
      if (!setting) return;
      const nowMs = deps.clock.now();
      try {
        const fields = headerFieldsOf(d.raw);
        const decision = decideVacation({
          setting,
          user: d.user,
          mailFrom: d.mailFrom,
          fields,
          ...(d.verdictAction !== undefined ? { verdictAction: d.verdictAction } : {}),
          isUsersAddress: (a) => deps.directory.ownsAddress(d.user, a),
          nowMs,
        });
        if (decision.kind === 'suppressed') {
          replies.inc({ result: decision.reason });
          log.info('vacation reply suppressed', { id: d.queueId, user: d.user, from: d.mailFrom, reason: decision.reason });
          return;
        }
        if (!(await memory.claim(d.user, d.mailFrom, setting.days, nowMs))) {
          replies.inc({ result: 'already_replied' });
          log.info('vacation reply suppressed', { id: d.queueId, user: d.user, from: d.mailFrom, reason: 'already_replied', days: setting.days });
          return;
        }
        const reply = buildVacationReply({ setting, user: d.user, to: d.mailFrom, fields, nowMs, queueId: d.queueId });
        const message = sign ? await sign(reply.message) : reply.message;
        const { id } = await sink.enqueue(reply.envelope, message);
        replies.inc({ result: 'sent' });
        log.info('vacation reply queued', { id: d.queueId, reply: id, user: d.user, to: d.mailFrom });
      } catch (err) {
        replies.inc({ result: 'failed' });
        log.error('vacation reply not queued', { id: d.queueId, user: d.user, to: d.mailFrom, err });
      }
    },
  };
}
