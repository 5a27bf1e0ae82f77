// Writing POP3 replies to a socket: single lines, multi-line bodies, and waiting out backpressure.
import type { Socket } from 'node:net';
import { totalLength } from './wire.ts';

/**
 * Replies up to this size are copied into one buffer and written with one write: the copy of a 4 KB message costs
 * about a microsecond, a corked write of its pieces goes through writev (an array of chunks, one write request with
 * several buffers). Bigger replies are not copied (a message of many megabytes would be held twice).
 */
const ONE_BUFFER_MAX = 256 * 1024;

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
  const head = Buffer.from(first + '\r\n');
  const total = head.length + totalLength(parts);
  if (total <= ONE_BUFFER_MAX) sock.write(Buffer.concat([head, ...parts], total));
  else {
    sock.cork();
    sock.write(head);
    for (const p of parts) sock.write(p);
    sock.uncork();
  }
  await whenDrained(sock);
}
