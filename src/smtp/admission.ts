// Admission at greeting time: the pre-greet test and the connection rate per client address.
// A refusal here is the greeting itself: 4xx becomes 421 (RFC 5321 §3.8), 5xx 554 (§3.1). A rate store
// that cannot count (Redis down, on_error tempfail) is RATE_STORE_UNAVAILABLE, as for the other limits.
import type { SymbolHit } from '../checks/types.ts';
import { clientKey } from '../limits/client-key.ts';
import { RedisUnavailableError } from '../redis/connection.ts';
import { scoreHits } from '../scoring/scorer.ts';
import type { GatewayDeps } from './gateway-types.ts';
import type { AcceptedClient, AdmitDecision } from './listener.ts';
import { SmtpError } from './smtp-error.ts';

export async function admitClient(deps: GatewayDeps, client: AcceptedClient, submission: boolean): Promise<{ decision: AdmitDecision; hits: SymbolHit[] }> {
  const { config, ruleset } = deps.snapshot();
  const hits: SymbolHit[] = [];
  if (client.pregreet !== undefined) hits.push({ symbol: 'PREGREET', options: [client.pregreet.replace(/\r?\n.*/s, '').slice(0, 40)] });
  const rule = config.limits.per_ip.connections;
  if (rule && !submission) {
    const who = clientKey(client.remoteAddress, config.limits.ipv6_prefix);
    try {
      const n = await deps.rateStore.hit(`ip-conn:${who}`, rule.window, { limit: rule.limit });
      if (n > rule.limit) hits.push({ symbol: 'RATE_IP_CONNECTIONS', options: [who, `${n}>${rule.limit}`] });
    } catch (err) {
      // Redis down with redis.on_error tempfail (skip counts nothing): as the message and recipient
      // limits, a deferral that says why, not a "Local error" with a stack per connection.
      if (!(err instanceof RedisUnavailableError)) throw err;
      deps.log.warn('rate store unavailable', { session: client.id, error: err.message, counter: 'ip connections' });
      hits.push({ symbol: 'RATE_STORE_UNAVAILABLE', options: ['ip connections'] });
    }
  }
  const verdict = scoreHits(hits, ruleset);
  if (!verdict.hard) return { decision: undefined, hits };
  const reply = SmtpError.fromReply(verdict.reply ?? '421 4.7.0 Try again later');
  deps.metrics.connections.inc({ listener: deps.name, result: verdict.decidedBy.toLowerCase() });
  deps.metrics.rejects.inc({ phase: 'connect', symbol: verdict.decidedBy });
  deps.log.info('connection refused', { session: client.id, client_ip: client.remoteAddress, symbols: verdict.symbols });
  return { decision: { refuse: `${reply.code >= 500 ? 554 : 421} ${reply.enhanced} ${reply.text}` }, hits };
}
