// Recipient verification against the upstream (front-of mode): at RCPT, a local-domain recipient is probed at
// the next hop (MAIL FROM:<>, RCPT, RSET; no message is sent) and the answer cached, so mail for users the
// upstream does not know is refused at once (550) instead of accepted and then bounced to a sender who is
// forged more often than not (backscatter). An upstream that cannot answer (down, slow, 4xx, too many probes at
// once) leaves the recipient to `on_error`: accepted (the queue keeps the mail, as it would have) or 450.
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/schema.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import { NextHopClient } from '../smtp/next-hop-client.ts';
import { upstreamTlsOptions } from '../queue/upstream-tls.ts';
import { isLocalDomain, isPostmaster, parseAddress } from '../smtp/address.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { scoreHits } from '../scoring/scorer.ts';
import type { Check, SymbolHit } from './types.ts';

export const UPSTREAM_RECIPIENT_SYMBOLS = ['RCPT_UNKNOWN_UPSTREAM', 'RCPT_VERIFY_TEMPFAIL', 'RCPT_VERIFY_SKIPPED'] as const;

/** `misconfigured`: the upstream refused the probe itself (relay denied, policy), not the recipient: worth a warning. */
export type ProbeResult = { status: 'accepted' } | { status: 'refused'; reply: string } | { status: 'unknown'; reason: string; misconfigured?: boolean };

/**
 * Whether a 5yz to the probe's RCPT is about the recipient: an enhanced code of the address (X.1.x) or mailbox
 * (X.2.x) class (RFC 3463 §3.2, §3.3), or, without one, 550/551/553 (RFC 5321 §4.2.2). A 550 5.7.1 "relay
 * access denied" (the upstream does not let spamgate relay), a 5.5.x sequence or syntax error or a 5.3.x system
 * problem says nothing of the user: refusing every recipient as unknown for it, and caching that, would turn a
 * configuration mistake at the upstream into "user unknown" for all mail.
 */
function aboutRecipient(code: number, enhanced: string | undefined): boolean {
  if (enhanced) return /^5\.[12]\./.test(enhanced);
  return code === 550 || code === 551 || code === 553;
}

/** Asks the next hop about one recipient. */
export type RecipientProbe = (rcpt: string, smtputf8: boolean) => Promise<ProbeResult>;

type VerifyConfig = Config['delivery']['verify_recipients'];

/** A probe over a fresh connection to the upstream, the whole of it within `timeout`. */
export function upstreamProbe(upstream: NonNullable<Config['delivery']['upstream']>, heloName: string, timeout: number): RecipientProbe {
  const tls = upstreamTlsOptions(upstream);
  return async (rcpt, smtputf8) => {
    // Past the deadline the probe is abandoned, and so is its connection, wherever it is (connecting, waiting for
    // the greeting or a reply): left to run on, it went through MAIL, RCPT and RSET and then stayed open, never
    // quit, a connection at the upstream per abandoned probe and none of them counted by max_concurrent.
    const abandon = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<ProbeResult>((resolve) => {
      timer = setTimeout(() => {
        abandon.abort();
        resolve({ status: 'unknown', reason: `no answer within ${timeout} ms` });
      }, timeout);
    });
    let client: NextHopClient | undefined;
    const ask = async (): Promise<ProbeResult> => {
      client = await NextHopClient.connect({
        host: upstream.host,
        port: upstream.port,
        lmtp: upstream.protocol === 'lmtp',
        heloName,
        connectTimeout: timeout,
        commandTimeout: timeout,
        ...tls,
        signal: abandon.signal,
      });
      if (smtputf8 && !client.extensions.has('SMTPUTF8')) return { status: 'unknown', reason: 'the upstream does not offer SMTPUTF8' };
      const { mail, rcpt: reply } = await client.probeRecipient(rcpt, smtputf8);
      if (!reply) return { status: 'unknown', reason: `MAIL FROM:<> refused: ${mail.code} ${mail.text}` };
      const text = `${reply.code} ${reply.enhanced ? `${reply.enhanced} ` : ''}${reply.text}`.slice(0, 200);
      if (reply.code >= 200 && reply.code < 300) return { status: 'accepted' };
      // RFC 5321 §4.2.1: only a 5yz is a permanent answer; a 4yz (greylisting, a full mailbox) says nothing for good.
      if (reply.code >= 500 && reply.code < 600) {
        return aboutRecipient(reply.code, reply.enhanced) ? { status: 'refused', reply: text } : { status: 'unknown', reason: `the upstream refused the probe, not the recipient: ${text}`, misconfigured: true };
      }
      return { status: 'unknown', reason: text };
    };
    try {
      return await Promise.race([ask().catch((err: unknown): ProbeResult => ({ status: 'unknown', reason: (err as Error).message.slice(0, 200) })), deadline]);
    } finally {
      clearTimeout(timer);
      void client?.quit().catch(() => undefined);
    }
  };
}

/** Probes with a cache (positive and negative answers kept apart), one probe per address at a time, and a cap on probes at once. */
export class RecipientVerifier {
  private readonly cache: LRUCache<string, ProbeResult>;
  private readonly inFlight = new Map<string, Promise<ProbeResult>>();
  private readonly results;

  constructor(
    private readonly probe: RecipientProbe,
    private readonly cfg: VerifyConfig,
    registry: Registry,
  ) {
    this.cache = new LRUCache<string, ProbeResult>({ max: cfg.cache_size, ttl: cfg.positive_ttl, ttlAutopurge: false });
    this.results = counter(registry, 'spamgate_recipient_verify_total', 'Front-of recipient verification at the upstream, by result (accepted, refused, unknown) and whether the cache answered', ['result', 'cached']);
  }

  async verify(rcpt: string, smtputf8: boolean): Promise<ProbeResult> {
    // Local parts may be case-sensitive at the upstream (RFC 5321 §2.4); domains are not.
    const at = rcpt.lastIndexOf('@');
    const key = at < 0 ? rcpt : `${rcpt.slice(0, at)}@${rcpt.slice(at + 1).toLowerCase()}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.results.inc({ result: hit.status, cached: 'true' });
      return hit;
    }
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    if (this.inFlight.size >= this.cfg.max_concurrent) {
      this.results.inc({ result: 'unknown', cached: 'false' });
      return { status: 'unknown', reason: `${this.cfg.max_concurrent} probes already running` };
    }
    const run = this.probe(rcpt, smtputf8).then((result) => {
      if (result.status === 'accepted') this.cache.set(key, result);
      else if (result.status === 'refused') this.cache.set(key, result, { ttl: this.cfg.negative_ttl });
      this.results.inc({ result: result.status, cached: 'false' });
      return result;
    });
    this.inFlight.set(key, run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(key);
    }
  }
}

export function createUpstreamRecipientCheck(verifier: RecipientVerifier, cfg: VerifyConfig, localDomains: ReadonlySet<string>, ruleset: Ruleset): Check {
  return {
    name: 'recipient_upstream',
    phase: 'rcpt',
    symbols: UPSTREAM_RECIPIENT_SYMBOLS,
    skipTrusted: false,
    // After relay control, the rate limits and the rest of the phase: a recipient they refuse costs the upstream no probe.
    late: true,
    timeoutMs: cfg.timeout + 500,
    async run(ctx): Promise<SymbolHit[]> {
      if (ctx.phaseHits && scoreHits(ctx.phaseHits, ruleset).hard) return [];
      const rcpt = parseAddress(ctx.rcpt ?? '');
      if (rcpt.trick || rcpt.literal || rcpt.domain === '' || !isLocalDomain(rcpt.domain, localDomains)) return [];
      // RFC 5321 §4.5.1: postmaster at our domains MUST be accepted: never refused for the upstream's answer (nor probed).
      if (isPostmaster(rcpt, localDomains)) return [];
      // The mailbox as the envelope holds it (and delivery will send it), not parseAddress's unquoted local part:
      // "john doe"@ or "john..doe"@ probed as <john doe@…> is a syntax error at the upstream, a 5xx taken for
      // an unknown user, and a mailbox it takes was refused.
      const mailbox = ctx.rcpt ?? rcpt.address;
      // SMTPUTF8 only for a mailbox that needs it (RFC 6531 §3.4): an ASCII recipient of an SMTPUTF8 session is
      // delivered to an upstream without the extension when the rest of the message is ASCII too, so it can be
      // asked about as well (it went unverified, as an upstream that cannot answer).
      const result = await verifier.verify(mailbox, ctx.envelope.smtputf8 && /[^\x00-\x7f]/.test(mailbox));
      if (result.status === 'accepted') return [];
      if (result.status === 'refused') return [{ symbol: 'RCPT_UNKNOWN_UPSTREAM', options: [mailbox, result.reply] }];
      const fields = { rcpt: mailbox, reason: result.reason, on_error: cfg.on_error };
      if (result.misconfigured) ctx.log.warn('recipient verification without an answer', fields);
      else ctx.log.info('recipient verification without an answer', fields);
      return [{ symbol: cfg.on_error === 'tempfail' ? 'RCPT_VERIFY_TEMPFAIL' : 'RCPT_VERIFY_SKIPPED', options: [result.reason] }];
    },
  };
}
