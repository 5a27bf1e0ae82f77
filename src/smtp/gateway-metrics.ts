// The gateway's Prometheus metrics: connections, transactions by action, rejects, bytes, timings.
import { dkimSignatureCounter } from '../dkim/notice-signer.ts';
import { counter, gauge, histogram, type Counter, type Registry } from '../metrics/registry.ts';

export function createGatewayMetrics(registry: Registry) {
  const insufficientStorage = counter(registry, 'spamgate_smtp_insufficient_storage_total', "Commands answered 452 4.3.1 for want of spool space: MAIL with less than queue.min_free plus 1.5 times the message size free, DATA whose spool write ran out of space", ['phase']);
  // both series from the start, so increase() sees the first refusal
  for (const phase of ['mail', 'data']) insufficientStorage.inc({ phase }, 0);
  return {
    connectionsActive: gauge(registry, 'spamgate_smtp_connections_active', 'SMTP connections open now', ['listener']),
    connections: counter(registry, 'spamgate_smtp_connections_total', 'SMTP connections by outcome at greeting: accepted, refused by the listener (too_many, too_many_per_ip, proxy_error) or by admission (the deciding symbol, lower case)', ['listener', 'result']),
    transactions: counter(registry, 'spamgate_smtp_transactions_total', 'SMTP transactions that reached DATA, by action (the verdict, reject for size and hop limits, next_hop_refused, no_space when the spool ran out of space, aborted when the client left mid-DATA)', ['listener', 'action']),
    rejects: rejectsBy(counter(registry, 'spamgate_smtp_rejects_total', 'Refusals by phase, the symbol that decided (SCORE for a score threshold) and its family', ['phase', 'family', 'symbol'])),
    recipients: counter(registry, 'spamgate_smtp_recipients_total', 'RCPT commands by result', ['result']),
    bytes: counter(registry, 'spamgate_smtp_received_bytes_total', 'Message bytes received in DATA'),
    processing: histogram(registry, 'spamgate_smtp_message_processing_seconds', 'Time from end of DATA to the reply', ['listener']),
    score: histogram(registry, 'spamgate_scan_score', 'Spam score of scanned messages', [], [-10, -5, -2, 0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 50]),
    checkSeconds: histogram(registry, 'spamgate_check_duration_seconds', 'Time per check run', ['check', 'outcome']),
    symbols: counter(registry, 'spamgate_symbol_hits_total', 'Symbol hits by symbol family', ['family']),
    authAttempts: counter(registry, 'spamgate_smtp_auth_total', 'SMTP AUTH attempts by result', ['result']),
    dkimSignatures: dkimSignatureCounter(registry),
    insufficientStorage,
  };
}

/** The family label (symbolFamily) follows from the symbol, so callers give only phase and symbol. */
function rejectsBy(c: Counter<'phase' | 'family' | 'symbol'>): { inc(labels: { phase: string; symbol: string }): void } {
  return { inc: ({ phase, symbol }) => c.inc({ phase, family: symbolFamily(symbol), symbol }) };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/** A symbol's family for bounded labels: the part before the first underscore. */
export function symbolFamily(symbol: string): string {
  const i = symbol.indexOf('_');
  return i === -1 ? symbol : symbol.slice(0, i);
}
