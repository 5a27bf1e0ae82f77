// milter.listen: "host:port" (TCP; port 0 picks a free one, for tests) or "unix:/path" (a unix socket).
import { isIP } from 'node:net';

export type MilterListen = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseMilterListen(text: string): MilterListen | { error: string } {
  const s = text.trim();
  if (s.startsWith('unix:')) {
    const p = s.slice(5);
    if (!p.startsWith('/')) return { error: `expected an absolute socket path after unix:, found ${JSON.stringify(p)}` };
    if (p.includes('\0')) return { error: 'the socket path contains a NUL byte' };
    return { kind: 'unix', path: p };
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s);
  if (!m) return { error: `expected "host:port" (e.g. "127.0.0.1:11332") or "unix:/path/to/milter.sock", found ${JSON.stringify(text)}` };
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) return { error: `expected a port from 0 to 65535, found ${port}` };
  if (isIP(host) === 0 && host !== 'localhost') return { error: `expected an IP address before the port, found ${JSON.stringify(host)}` };
  return { kind: 'tcp', host, port };
}
