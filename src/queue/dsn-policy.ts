// Whom the sender wants to hear about: RFC 3461 NOTIFY per recipient (failure and delay notices
// when it gave none, as before DSN support), and what an alias's targets inherit (RFC 3461 §5.2.7).
import type { DsnParameters, NotifyKeyword, RecipientDsnRequest } from './types.ts';

export type NoticeKind = 'failure' | 'delay' | 'success';

/** What a success notice says of a recipient (RFC 3464 §2.3.3). */
export type SuccessAction = 'delivered' | 'relayed' | 'expanded';

const KEYWORD: Record<NoticeKind, NotifyKeyword> = { failure: 'FAILURE', delay: 'DELAY', success: 'SUCCESS' };

export function dsnRequestOf(envelope: DsnParameters, recipient: string): RecipientDsnRequest | undefined {
  const table = envelope.rcptDsn;
  return table && Object.hasOwn(table, recipient) ? table[recipient] : undefined;
}

/**
 * RFC 3461 §4.1: NOTIFY=NEVER means no notice at all; a list means exactly those kinds; no NOTIFY
 * leaves it to us: failures (RFC 5321 §3.6.2 requires those) and delays, never success.
 */
export function wantsNotice(envelope: DsnParameters, recipient: string, kind: NoticeKind): boolean {
  const notify = dsnRequestOf(envelope, recipient)?.notify;
  if (!notify?.length) return kind !== 'success';
  return notify.includes(KEYWORD[kind]);
}

/**
 * After a next hop accepted a recipient: one that offers DSN got the sender's requests and owes the
 * success notice now (RFC 3461 §5.2.1); otherwise it is ours and says "relayed" (§5.2.2), or
 * "delivered" after LMTP, which is final delivery (RFC 2033; Postfix assumes the same).
 */
export function successActionAfterHandOver(dsnPassedOn: boolean, lmtp: boolean): SuccessAction | undefined {
  if (dsnPassedOn) return undefined;
  return lmtp ? 'delivered' : 'relayed';
}

/**
 * The request an alias target inherits (RFC 3461 §5.2.7; as Postfix does): ORCPT stays the sender's,
 * or becomes the alias address itself; NOTIFY passes on, but when the alias expands to several
 * targets the alias reports "expanded" itself, so SUCCESS is taken off the targets (§5.2.7.3).
 */
export function inheritedRequest(envelope: DsnParameters, alias: string, targets: number): RecipientDsnRequest | undefined {
  const request = dsnRequestOf(envelope, alias);
  // A non-ASCII alias is named with the RFC 6533 §3 utf-8 address type.
  const orcpt = request?.orcpt ?? (/^[\x21-\x7e]+$/.test(alias) ? `rfc822;${alias}` : /[^\x00-\x7f]/.test(alias) ? `utf-8;${alias}` : undefined);
  let notify = request?.notify;
  if (notify && targets > 1 && notify.includes('SUCCESS')) {
    const rest = notify.filter((k) => k !== 'SUCCESS');
    notify = rest.length ? rest : ['NEVER'];
  }
  if (!notify && orcpt === undefined) return undefined;
  return { ...(notify ? { notify } : {}), ...(orcpt !== undefined ? { orcpt } : {}) };
}
