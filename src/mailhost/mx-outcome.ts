// What the recipients an MX walk (mx-delivery.ts) left undelivered get: the refusal of a TLS policy (DANE, MTA-STS
// enforce) when no host answered, a bounce when no MX better than this server is left or no MX host has an address,
// else the last temporary failure, for the queue to retry.
import type { RecipientOutcome } from '../queue/router.ts';
import type { NextHopReply } from '../queue/types.ts';
import { loopReply } from './mx-plan.ts';

/** How the walk over a domain's MX hosts ended. */
export interface MxWalkEnd {
  domain: string;
  /** The domain has no MX: its address stood in for one. */
  implicit: boolean;
  /** Why DANE, else MTA-STS (enforce), kept the message from a host. */
  refused: NextHopReply | undefined;
  lastTemp: NextHopReply;
  /** The last host connected to, or whose connection failed. */
  lastMta: string | undefined;
  /** The host whose own reply lastTemp is (none for a connection failure or a reply we made up). */
  lastReporter: string | undefined;
  /** The preference at which an MX host is this server (RFC 5321 §5.1). */
  loopAt: number | undefined;
  sawAddress: boolean;
  sawTempDns: boolean;
}

export function leftOverOutcome(w: MxWalkEnd): RecipientOutcome {
  const { domain } = w;
  if (w.refused && !w.lastReporter) {
    // RFC 8461 §5.1: an enforce failure is temporary: the message stays queued and each retry looks for a new policy;
    // so is a DANE failure (RFC 7672 §2.2): each retry looks the TLSA records up again
    return { status: 'temp', reply: w.refused, destination: 'remote' };
  }
  if (w.loopAt !== undefined && w.lastMta === undefined && !w.sawTempDns) {
    // RFC 5321 §5.1: no MX better than ourselves is left: the message MUST be returned.
    return { status: 'perm', reply: loopReply(domain), destination: 'remote' };
  }
  if (!w.sawAddress && !w.sawTempDns && w.implicit) {
    // No MX and no address: nowhere to deliver (RFC 5321 §5.1).
    return { status: 'perm', reply: { code: 550, enhanced: '5.1.2', text: `domain ${domain} has no mail server` }, destination: 'remote' };
  }
  if (!w.sawAddress && !w.sawTempDns && w.loopAt === undefined) {
    // Every MX host is a name that does not exist or has no usable address (as Postfix, the sender hears at once).
    return { status: 'perm', reply: { code: 550, enhanced: '5.4.4', text: `no MX host of ${domain} has a usable address` }, destination: 'remote' };
  }
  return { status: 'temp', reply: w.lastTemp, destination: 'remote', ...(w.lastReporter ? { remoteMta: w.lastReporter } : {}) };
}
