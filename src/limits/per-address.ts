// Open connections per client address, for the listeners' "one address cannot take every slot" limits
// (IMAP, POP3, the HTTP endpoint).
import type { Socket } from 'node:net';
import { clientKey } from './client-key.ts';

export class PerAddressLimit {
  private readonly open = new Map<string, number>();

  constructor(private readonly limit: number) {}

  /** Counts `socket` against `ip` until it closes; false, and not counted, when `ip` is at the limit. */
  admit(socket: Socket, address: string): boolean {
    // an IPv6 client counts as its /64 (src/limits/client-key.ts)
    const ip = clientKey(address);
    const n = (this.open.get(ip) ?? 0) + 1;
    if (n > this.limit) return false;
    this.open.set(ip, n);
    socket.once('close', () => {
      const left = (this.open.get(ip) ?? 1) - 1;
      if (left > 0) this.open.set(ip, left);
      else this.open.delete(ip);
    });
    return true;
  }
}
