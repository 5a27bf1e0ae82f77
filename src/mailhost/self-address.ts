// Does an MX address reach this very server? Compares with the SMTP listeners from config (a
// wildcard listener is reached through every local interface address and all of 127/8), so that
// outbound delivery can refuse to hand mail to itself (RFC 5321 §5.1 loop prevention).
import os from 'node:os';

export interface ListenAddress {
  host: string;
  port: number;
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\./.test(address) || /^::ffff:127\./i.test(address);
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) out.add(i.address.toLowerCase());
  return out;
}

/** A listener on port 0 (an ephemeral port) is never matched: its port is not known here. */
export function selfAddressCheck(listeners: readonly ListenAddress[]): (address: string, port: number) => boolean {
  const known = listeners.filter((l) => l.port > 0);
  return (address, port) => {
    const a = address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
    for (const l of known) {
      if (l.port !== port) continue;
      const h = l.host.toLowerCase();
      if (h === a) return true;
      if (h === 'localhost' && isLoopback(a)) return true;
      if (WILDCARD.has(h) && (isLoopback(a) || localAddresses().has(a))) return true;
    }
    return false;
  };
}
