// DKIM signing of the notices spamgate writes itself (delivery status notifications, From
// MAILER-DAEMON@<hostname>): signed with the key of the hostname's domain (or its nearest parent) when one is
// configured, so a receiver's DMARC check of the notice passes on an aligned signature. The signer is read at
// each notice, so a reload's keys apply at once. A signing failure sends the notice unsigned (logged, counted).
// Signed or not, a notice leaves with no line over 998 octets where it can be mended (RFC 5322 §2.1.1, line-limit.ts).
import { counter, type Registry } from '../metrics/registry.ts';
import type { Logger } from '../util/logger.ts';
import { withinLineLimit } from '../smtp/line-limit.ts';
import type { DkimSigner } from './signer.ts';

/** Adds a DKIM-Signature to a notice when a key covers its From domain; returns the notice to queue. */
export type NoticeSigner = (notice: Buffer) => Promise<Buffer>;

export function dkimSignatureCounter(registry: Registry) {
  return counter(registry, 'spamgate_dkim_signatures_total', 'Outgoing messages DKIM-signed (delivery notices included), by signing domain and result (signed, failed: sent unsigned)', ['domain', 'result']);
}

/** Each signing domain's series, exported at 0 from the start (and after a reload adds a key), so rates and alerts over them have data. */
export function exportSigningDomains(registry: Registry, domains: readonly string[]): void {
  const signatures = dkimSignatureCounter(registry);
  for (const domain of domains) for (const result of ['signed', 'failed']) signatures.inc({ domain, result }, 0);
}

export function createNoticeSigner(current: () => DkimSigner | undefined, registry: Registry, log: Logger, clock: { now(): number }): NoticeSigner {
  const signatures = dkimSignatureCounter(registry);
  return async (written) => {
    const mended = withinLineLimit(written);
    const notice = 'message' in mended ? mended.message : written;
    const signer = current();
    if (!signer) return notice;
    const outcome = await signer.sign(notice, clock.now());
    if (outcome.status === 'signed') {
      signatures.inc({ domain: outcome.domain, result: 'signed' });
      return Buffer.concat([Buffer.from(outcome.header, 'latin1'), outcome.message]);
    }
    if (outcome.status === 'failed') {
      signatures.inc({ domain: outcome.domain, result: 'failed' });
      log.warn('dkim signing of a delivery notice failed, sending it unsigned', { domain: outcome.domain, error: outcome.error });
    }
    return notice;
  };
}
