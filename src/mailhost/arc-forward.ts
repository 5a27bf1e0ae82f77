// ARC sealing of the copies spamgate forwards to other domains (alias forwards, Sieve redirects): the envelope
// carries the Authentication-Results and chain status of the receipt (QueueEnvelope.auth), the forwarding address
// names the sealing domain, and the sealer of the running snapshot makes the set (arc-sealer.ts). A copy that cannot
// be sealed goes on unsealed (logged); each outcome is counted in spamgate_arc_sealed_total{result}.
import type { ArcSealer } from '../dkim/arc-sealer.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import type { QueueEnvelope } from '../queue/types.ts';
import type { Logger } from '../util/logger.ts';

/** The message to queue for a forwarded copy: `raw` with an ARC set on top, or `raw` itself. */
export type ForwardSealer = (raw: Buffer, envelope: QueueEnvelope, forwarder: string) => Promise<Buffer>;

/** cv_none/cv_pass/cv_fail: sealed with that cv=; the rest: not sealed. */
export const ARC_SEAL_RESULTS = ['cv_none', 'cv_pass', 'cv_fail', 'no_results', 'no_key', 'chain_failed', 'failed'] as const;

export function createForwardSealer(current: () => ArcSealer | undefined, registry: Registry, log: Logger, clock: { now(): number }): ForwardSealer {
  const sealed = counter(registry, 'spamgate_arc_sealed_total', `ARC sealing of forwarded copies (RFC 8617), by result (${ARC_SEAL_RESULTS.join(', ')})`, ['result']);
  for (const result of ARC_SEAL_RESULTS) sealed.inc({ result }, 0);
  return async (raw, envelope, forwarder) => {
    const sealer = current();
    if (!sealer) return raw;
    // mail spamgate did not receive from outside (written before this field existed, or a notice): nothing to vouch for
    if (!envelope.auth) {
      sealed.inc({ result: 'no_results' });
      return raw;
    }
    const at = forwarder.lastIndexOf('@');
    const outcome = await sealer.seal(raw, { forwarderDomain: at < 0 ? forwarder : forwarder.slice(at + 1), authResults: envelope.auth.results, cv: envelope.auth.arc, now: clock.now() });
    if (outcome.status === 'sealed') {
      sealed.inc({ result: `cv_${outcome.cv}` });
      log.info('forwarded copy ARC-sealed', { id: envelope.sessionId, forwarder, domain: outcome.domain, i: outcome.instance, cv: outcome.cv });
      return Buffer.concat([Buffer.from(outcome.header, 'utf8'), raw]);
    }
    if (outcome.status === 'not_sealed') {
      sealed.inc({ result: outcome.reason });
      log.info('forwarded copy not ARC-sealed', { id: envelope.sessionId, forwarder, reason: outcome.reason, detail: outcome.detail });
    } else {
      sealed.inc({ result: 'failed' });
      log.warn('ARC sealing of a forwarded copy failed, sending it unsealed', { id: envelope.sessionId, forwarder, domain: outcome.domain, error: outcome.error });
    }
    return raw;
  };
}
