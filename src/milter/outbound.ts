// Our own outgoing mail in milter mode, as the SMTP listener treats it (data-phase.ts, envelope.outgoing): a
// sender that authenticated to the MTA ({auth_authen}) or a client in smtp.trusted_networks. Its end-of-body
// answer gets the DKIM-Signature (dkim-header.ts, over the message with our header changes applied) and the
// BATV-tagged envelope sender (batv-sender.ts). An action the MTA did not grant is logged once and skipped.
import type { GatewayDeps } from '../smtp/gateway-types.ts';
import type { SessionState, Transaction } from '../smtp/session-state.ts';
import { tagSender } from './batv-sender.ts';
import { signForMta, type MilterSignOutcome } from './dkim-header.ts';
import { applyHeaderPackets } from './final-message.ts';

export interface OutboundInput {
  deps: GatewayDeps;
  state: SessionState;
  tx: Transaction;
  /** The message as the MTA sent it to us (CRLF line ends). */
  raw: Buffer;
  /** Our end-of-body header changes, as they will be sent before these packets. */
  changes: readonly Buffer[];
  actions: number;
  leadingSpace: boolean;
  /** milter.sign */
  sign: boolean;
  /** Logs a warning the first time `key` is seen by this listener. */
  warnOnce: (key: string, message: string) => void;
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/\.$/, '');

/** Whether the milter session's sender is one of ours: the same rule as the SMTP listener's. */
export function isOutbound(state: SessionState): boolean {
  return state.info.trusted || state.info.authUser !== undefined;
}

/**
 * Our own outgoing mail with a recipient outside local_domains: the MTA sends one copy to all, so it gets no
 * X-Spamgate-Result (the verdict, its score and the session id stay here; the log line keeps them), as rspamd's
 * milter_headers skips authenticated and local mail. Mail among our own domains keeps it for their filters.
 */
export function withoutResultField(state: SessionState, rcptTo: readonly string[], localDomains: readonly string[]): boolean {
  if (!isOutbound(state)) return false;
  const ours = new Set(localDomains.map((d) => d.toLowerCase().replace(/\.$/, '')));
  return rcptTo.some((r) => !ours.has(domainOf(r)));
}

/** The packets (SMFIR_CHGFROM, SMFIR_INSHEADER of DKIM-Signature) to send after our header changes; none for other mail. */
export async function outboundPackets(o: OutboundInput): Promise<Buffer[]> {
  if (!isOutbound(o.state)) return [];
  const { deps, tx } = o;
  const snapshot = deps.snapshot();
  const out: Buffer[] = [];
  if (snapshot.batv) {
    const tagged = tagSender({ batv: snapshot.batv, mailFrom: tx.envelope.mailFrom, recipients: tx.envelope.rcptTo, localDomains: snapshot.config.local_domains, actions: o.actions });
    if (tagged.status === 'tagged') out.push(tagged.packet);
    if (tagged.status === 'not_granted') o.warnOnce('chgfrom', 'milter: the MTA did not grant changing the envelope sender (SMFIF_CHGFROM): outgoing mail is not BATV-tagged');
  }
  const signer = snapshot.dkim;
  if (!o.sign || !signer) return out;
  // The MTA checked that an authenticated user may use the envelope sender (Postfix: smtpd_sender_login_maps);
  // spamgate knows no directory of the MTA's users, so the From it signs must be at the envelope sender's domain.
  const user = o.state.info.authUser;
  const senderDomain = domainOf(tx.envelope.mailFrom);
  const mayUseFrom = user !== undefined ? (address: string): boolean => tx.envelope.mailFrom !== '' && domainOf(address) === senderDomain : undefined;
  const message = applyHeaderPackets(o.raw, o.changes, o.leadingSpace);
  // a signer that throws (it should not) fails this signature, not the message: it goes on unsigned, as the
  // SMTP listener sends a message whose signing failed (counted under the key domain of the envelope sender's)
  const signed = await signForMta({ signer, message, actions: o.actions, leadingSpace: o.leadingSpace, now: deps.clock.now(), ...(mayUseFrom ? { mayUseFrom } : {}) }).catch(
    (err: unknown): MilterSignOutcome => ({ status: 'failed', domain: signer.domains.find((d) => senderDomain === d || senderDomain.endsWith(`.${d}`)) ?? '', error: err instanceof Error ? err.message : String(err) }),
  );
  switch (signed.status) {
    case 'not_granted':
      o.warnOnce('addhdrs', 'milter: the MTA did not grant adding header fields (SMFIF_ADDHDRS): outgoing mail is not DKIM-signed');
      break;
    case 'not_signed':
      break;
    case 'not_own_from':
      tx.dkim = `not signed: From <${signed.address}> is not at the envelope sender's domain`;
      break;
    case 'failed':
      if (signed.domain) deps.metrics.dkimSignatures.inc({ domain: signed.domain, result: 'failed' });
      tx.dkim = `failed: ${signed.error}`;
      deps.log.warn('dkim signing failed, the message goes on unsigned', { session: o.state.info.id, domain: signed.domain, error: signed.error });
      break;
    case 'signed':
      deps.metrics.dkimSignatures.inc({ domain: signed.domain, result: 'signed' });
      tx.dkim = `${signed.domain} s=${signed.selector}`;
      out.push(signed.packet);
  }
  return out;
}
