// check-config's look at clamd over TCP (antivirus.enabled with antivirus.clamd: host:port): one PING, as serve
// sends at start, bounded by a short timeout; no PONG (refused, timed out, not clamd) is a warning, since serve
// starts without clamd too (until it answers, mail goes per antivirus.on_error).
import type { AntivirusConfig } from '../config/sections/antivirus.ts';
import type { FileProblem } from '../config/file-checks.ts';
import { clamdPing } from './clamd-client.ts';
import { formatClamdAddress, parseClamdAddress } from './clamd-protocol.ts';

/** How long check-config waits for clamd's PONG (connect included). */
export const CLAMD_CHECK_TIMEOUT_MS = 2000;

/** Why clamd at a TCP address does not answer PING, or undefined (antivirus off, a unix socket, PONG came). */
export async function clamdTcpProblem(config: AntivirusConfig, timeoutMs = CLAMD_CHECK_TIMEOUT_MS): Promise<FileProblem | undefined> {
  if (!config.enabled) return undefined;
  const address = parseClamdAddress(config.clamd);
  if ('error' in address || address.kind !== 'tcp') return undefined;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const r = await clamdPing(address, controller.signal);
    if (r.ok) return undefined;
    return {
      path: ['antivirus', 'clamd'],
      message: `clamd at ${formatClamdAddress(address)} does not answer PING (${r.error}): clamd is not running, or listens elsewhere (TCPSocket and TCPAddr in clamd.conf); until it answers every message goes per antivirus.on_error (${config.on_error})`,
    };
  } finally {
    clearTimeout(timer);
  }
}
