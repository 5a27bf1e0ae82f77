// Name server addresses: "ip", "ip:port" or "[ipv6]:port" from config, else the nameserver lines of /etc/resolv.conf.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface NameServer {
  host: string;
  port: number;
}

/** Parses one entry; returns undefined when it is not an IP address with an optional port. */
export function parseNameServer(entry: string): NameServer | undefined {
  const text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed?.[1]) return withPort(bracketed[1], bracketed[2]);
  if (isIP(text)) return { host: text, port: 53 };
  const hostPort = /^([^:]+):(\d+)$/.exec(text);
  if (hostPort?.[1]) return withPort(hostPort[1], hostPort[2]);
  return undefined;
}

function withPort(host: string, portText: string | undefined): NameServer | undefined {
  const port = portText === undefined ? 53 : Number(portText);
  if (!isIP(host) || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** The nameserver lines of a resolv.conf text; entries that are not addresses are skipped. */
export function parseResolvConf(text: string): NameServer[] {
  const out: NameServer[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const ns = m?.[1] ? parseNameServer(m[1]) : undefined;
    if (ns) out.push(ns);
  }
  return out;
}

/** Configured servers, else /etc/resolv.conf, else 127.0.0.1 (what resolv.conf's absence means). */
export function resolveNameServers(configured: readonly string[] | undefined, resolvConfPath = '/etc/resolv.conf'): NameServer[] {
  if (configured && configured.length) {
    return configured.map((entry) => {
      const ns = parseNameServer(entry);
      if (!ns) throw new Error(`dns.servers: expected "ip" or "ip:port", found ${JSON.stringify(entry)}`);
      return ns;
    });
  }
  let text = '';
  try {
    text = readFileSync(resolvConfPath, 'utf8');
  } catch {
    // no resolv.conf: fall through to the local default
  }
  const found = parseResolvConf(text);
  return found.length ? found : [{ host: '127.0.0.1', port: 53 }];
}
