// Reads a file with a byte limit. A size from stat means nothing for a device or a pipe (/dev/zero,
// a FIFO): only reading in bounded chunks keeps such a file from taking all memory.
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 64 * 1024;

/** At most `max` bytes of `file`; more were there when the result is exactly `max` long and `max` was a probe. */
export function readBounded(file: string, max: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    return readBoundedFd(fd, max);
  } finally {
    closeSync(fd);
  }
}

/** At most `max` bytes from an open file, from where it stands (a pipe can only be read on, never again). */
export function readBoundedFd(fd: number, max: number): Buffer {
  const chunks: Buffer[] = [];
  let got = 0;
  // Each pass reads at least one byte or ends the loop; at most max / 1 passes, usually max / CHUNK.
  while (got < max) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, max - got));
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    got += n;
  }
  return Buffer.concat(chunks, got);
}
