// The spamd listener's metrics: requests by command and result, connections by outcome. Every series a
// dashboard or alert reads exists from the start at 0, so increase() sees the first request.
import { counter, type Registry } from '../metrics/registry.ts';
import { COMMANDS, SCAN_COMMANDS } from './protocol.ts';

/**
 * Results: `spam`, `ham` (scans), `ok` (PING, SKIP, TELL), `refused` (TELL not allowed or nothing to learn
 * into), `too_large` (Content-length over spamd.max_size), `error` (malformed request, failure of a scan).
 * A request line that names no known command is counted as command `unknown`.
 */
export type SpamdResult = 'spam' | 'ham' | 'ok' | 'refused' | 'too_large' | 'error' | 'timeout';

export function createSpamdMetrics(registry: Registry) {
  const requests = counter(registry, 'spamgate_spamd_requests_total', 'spamc/spamd protocol requests by command (check, symbols, report, report_ifspam, process, headers, ping, skip, tell, unknown) and result (spam, ham, ok, refused, too_large, error, timeout)', ['command', 'result']);
  const connections = counter(registry, 'spamgate_spamd_connections_total', 'spamd listener connections by outcome: accepted, not_allowed (outside spamd.allowed_networks), too_many (over spamd.max_connections)', ['result']);
  for (const c of SCAN_COMMANDS) for (const result of ['spam', 'ham', 'too_large', 'error', 'timeout']) requests.inc({ command: c.toLowerCase(), result }, 0);
  for (const c of ['ping', 'skip']) requests.inc({ command: c, result: 'ok' }, 0);
  for (const result of ['ok', 'refused', 'too_large', 'error', 'timeout']) requests.inc({ command: 'tell', result }, 0);
  requests.inc({ command: 'unknown', result: 'error' }, 0);
  for (const result of ['accepted', 'not_allowed', 'too_many']) connections.inc({ result }, 0);
  return {
    request: (command: string | undefined, result: SpamdResult): void => {
      const c = command && (COMMANDS as readonly string[]).includes(command) ? command.toLowerCase() : 'unknown';
      requests.inc({ command: c, result });
    },
    connection: (result: 'accepted' | 'not_allowed' | 'too_many'): void => connections.inc({ result }),
  };
}

export type SpamdMetrics = ReturnType<typeof createSpamdMetrics>;
