// Streams an mbox file (mboxo/mboxrd) message by message with fixed-size reads, so a mailbox of any size
// is trained on or classified in bounded memory: one message, one line being assembled across reads (each
// capped at the message limit, with transient copies of them) and one read chunk.
import { closeSync, openSync, readSync } from 'node:fs';

export type MboxItem = { index: number; raw: Buffer; error?: undefined } | { index: number; raw?: undefined; error: string };

const FROM = Buffer.from('From ');
const LF = 0x0a;

/** True when `line` is "From " after one or more ">" (a quoted separator, which loses one ">"). */
function isQuotedFrom(line: Buffer): boolean {
  let i = 0;
  while (i < line.length && line[i] === 0x3e) i++;
  return i > 0 && line.subarray(i, i + FROM.length).equals(FROM);
}

function isBlank(line: Buffer): boolean {
  return line.length === 1 || (line.length === 2 && line[0] === 0x0d);
}

/**
 * Messages of the mbox at `file`, split at "From " lines that open the file or follow an empty line (an
 * unescaped "From " inside a paragraph stays body text); one level of ">From " quoting is removed. A
 * message over `maxMessageBytes` is reported as an error item and skipped; the rest of the file goes on.
 * `file` may be a descriptor the caller opened (and closes), read on from where it stands, after `head`:
 * bytes already read from it (a pipe cannot be read again).
 */
export function* readMbox(file: string | number, maxMessageBytes: number, chunkBytes = 1 << 20, head?: Buffer): Generator<MboxItem> {
  const fd = typeof file === 'number' ? file : openSync(file, 'r');
  let pending = head ?? Buffer.alloc(0);
  try {
    // never pooled: a view into it is recognised by its ArrayBuffer
    const chunk = Buffer.allocUnsafeSlow(Math.max(16, chunkBytes));
    let parts: Buffer[] = [];
    let size = 0;
    let oversize = false;
    let started = false;
    let index = 0;
    let prevBlank = true;
    let partial: Buffer[] = [];
    let partialSize = 0;
    let partialDropped = false;

    // Lines kept as they are and adjacent in the current read are copied out in one piece, not one by one.
    let runStart = -1;
    let runEnd = -1;
    const flushRun = (): void => {
      if (runStart >= 0) parts.push(Buffer.from(chunk.subarray(runStart, runEnd)));
      runStart = runEnd = -1;
    };
    const finish = function* (): Generator<MboxItem> {
      flushRun();
      if (!started) return;
      index++;
      if (oversize) yield { index, error: `message over the ${maxMessageBytes}-byte limit, skipped` };
      else yield { index, raw: Buffer.concat(parts, size) };
      parts = [];
      size = 0;
      oversize = false;
    };
    const append = (b: Buffer): void => {
      if (oversize) return;
      if (size + b.length > maxMessageBytes) {
        oversize = true;
        runStart = runEnd = -1;
        parts = [];
        return;
      }
      size += b.length;
      if (b.buffer !== chunk.buffer) {
        // a line assembled across reads: already a buffer of its own
        flushRun();
        parts.push(b);
        return;
      }
      const start = b.byteOffset - chunk.byteOffset;
      if (start !== runEnd) {
        flushRun();
        runStart = start;
      }
      runEnd = start + b.length;
    };
    const line = function* (l: Buffer, dropped: boolean): Generator<MboxItem> {
      if (!dropped && prevBlank && l.subarray(0, FROM.length).equals(FROM)) {
        yield* finish();
        started = true;
        prevBlank = false;
        return;
      }
      started = true;
      if (dropped) oversize = true;
      else {
        append(isQuotedFrom(l) ? l.subarray(1) : l);
      }
      prevBlank = !dropped && isBlank(l);
    };

    for (;;) {
      flushRun(); // the next read overwrites the chunk
      let n: number;
      if (pending.length > 0) {
        n = pending.copy(chunk, 0, 0, Math.min(pending.length, chunk.length));
        pending = pending.subarray(n);
      } else n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(LF, from);
        if (nl < 0 || nl >= n) break;
        const piece = chunk.subarray(from, nl + 1);
        if (partialSize > 0 || partialDropped) {
          const whole = partialDropped ? Buffer.alloc(0) : Buffer.concat([...partial, piece]);
          yield* line(whole, partialDropped);
          partial = [];
          partialSize = 0;
          partialDropped = false;
        } else yield* line(piece, false);
        from = nl + 1;
      }
      if (from < n) {
        // a line continues into the next read: keep it unless it alone is over the message limit
        if (!partialDropped && partialSize + (n - from) <= maxMessageBytes) {
          partial.push(Buffer.from(chunk.subarray(from, n)));
          partialSize += n - from;
        } else {
          partial = [];
          partialSize = 0;
          partialDropped = true;
        }
      }
    }
    if (partialSize > 0 || partialDropped) yield* line(partialDropped ? Buffer.alloc(0) : Buffer.concat(partial), partialDropped);
    yield* finish();
  } finally {
    if (typeof file !== 'number') closeSync(fd);
  }
}
