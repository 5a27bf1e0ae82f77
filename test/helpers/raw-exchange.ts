// Tests: a raw TCP exchange with a line-protocol listener (spamd, the rspamd protocol): writes the request, in
// pieces when given several, and reads until the server closes the connection (a reset or broken pipe ends it too).
import net from 'node:net';

/** Writes `request` (in pieces, when given several) and reads until the server closes. */
export function rawExchange(port: number, request: readonly (string | Buffer)[], opts: { end?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('connect', () => {
      for (const part of request) socket.write(part);
      if (opts.end) socket.end();
    });
  });
}
