// Writing POP3 replies to a socket: single lines, multi-line bodies, and waiting out backpressure.
import type { Socket } from 'node:net';

/** Writes one reply line unless the socket is gone or already ended. */
export function writeLine(sock: Socket, line: string): void {
  if (!sock.destroyed && !sock.writableEnded) sock.write(line + '\r\n');
}

/** Resolves once the socket's write buffer is below its high-water mark, or the socket closed. */
export function whenDrained(sock: Socket): Promise<void> {
  if (!sock.writableNeedDrain || sock.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

/** A status line and an already encoded multi-line body (see encodeMultiline), then waits for drain. */
export async function writeMultiline(sock: Socket, first: string, parts: readonly Buffer[]): Promise<void> {
  if (sock.destroyed || sock.writableEnded) return;
  sock.cork();
  sock.write(first + '\r\n');
  for (const p of parts) sock.write(p);
  sock.uncork();
  await whenDrained(sock);
}
