// The rspamd HTTP scan listener's metrics (spamd.http_listen): requests by endpoint and result. Every series
// exists from the start at 0, with the listener off too, so a dashboard's increase() sees the first request.
import { counter, type Registry } from '../metrics/registry.ts';

export const RSPAMD_ENDPOINTS = ['checkv2', 'check', 'ping', 'learnspam', 'learnham', 'other'] as const;
export type RspamdEndpoint = (typeof RSPAMD_ENDPOINTS)[number];

/**
 * `spam`, `ham` (scans), `ok` (ping, learning), `refused` (learning not allowed or nothing to learn into),
 * `too_large`, `timeout`, `error` (malformed request, failed scan), `not_allowed` (outside allowed_networks),
 * `too_many` (over max_connections).
 */
export type RspamdResult = 'spam' | 'ham' | 'ok' | 'refused' | 'too_large' | 'timeout' | 'error' | 'not_allowed' | 'too_many';

export function createRspamdMetrics(registry: Registry) {
  const requests = counter(registry, 'spamgate_scan_http_requests_total', 'rspamd-protocol HTTP requests (spamd.http_listen) by endpoint (checkv2, check (the legacy RSPAMC protocol), ping, learnspam, learnham, other) and result (spam, ham, ok, refused, too_large, timeout, error, not_allowed, too_many)', ['endpoint', 'result']);
  for (const e of ['checkv2', 'check']) for (const result of ['spam', 'ham', 'too_large', 'timeout', 'error']) requests.inc({ endpoint: e, result }, 0);
  requests.inc({ endpoint: 'ping', result: 'ok' }, 0);
  for (const e of ['learnspam', 'learnham']) for (const result of ['ok', 'refused', 'too_large', 'timeout', 'error']) requests.inc({ endpoint: e, result }, 0);
  for (const result of ['error', 'timeout', 'not_allowed', 'too_many']) requests.inc({ endpoint: 'other', result }, 0);
  return { request: (endpoint: RspamdEndpoint, result: RspamdResult): void => requests.inc({ endpoint, result }) };
}

export type RspamdMetrics = ReturnType<typeof createRspamdMetrics>;
