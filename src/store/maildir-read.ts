// Reading one message file whole: one open, one fstat, reads until end of file, CRLF line ends.
import { close, closeSync, constants, fstat, fstatSync, open, openSync, read, readSync } from 'node:fs';
import { crlfKnown, toCrlf } from './maildir-crlf.ts';
import { OPEN_MESSAGE } from './maildir-files.ts';

/**
 * Message files are opened without following a link (OPEN_MESSAGE) and without blocking: a FIFO put in place of a
 * message would otherwise hold the open (on the event loop, or a thread-pool thread) until some writer came. For a
 * regular file O_NONBLOCK changes nothing; anything that is no regular file is treated as gone (fstat).
 */
const OPEN_FLAGS = OPEN_MESSAGE | constants.O_NONBLOCK;

/**
 * Files up to this size are read synchronously by default. Measured on the 2-core test machine, 4,000 files of 4 KB
 * read one after another from the page cache (node 20): openSync + readSync + closeSync 8 µs a file; fs.promises
 * readFile 150-180 µs, callback open + read + close 90-110 µs (each thread-pool round trip costs some 30-45 µs of
 * hand-over latency, three or four per file). Those round trips were a third of a POP3 RETR's time. The price is
 * that a read which is not in the page cache stalls the event loop for one disk read of at most this size (SSD:
 * ~0.1 ms; a busy spinning disk: ~10 ms); a Maildir on a network filesystem wants `syncReadMax: 0`. Bigger files
 * are read asynchronously (their size is known after the fstat on the same descriptor).
 */
export const SYNC_READ_MAX = 64 * 1024;

/**
 * How much one turn of the event loop reads synchronously, whatever asks (IMAP FETCH reads 64 messages of a batch at
 * once): once SYNC_TURN_FILES files or SYNC_TURN_BYTES bytes were read so in this turn, further files are opened and
 * read in the thread pool until the turn ends (setImmediate). The stall is bounded: from the page cache ~16 × 8 µs
 * plus copying 512 KiB (~0.1 ms); uncached on an SSD ~16 × 0.1 ms. POP3 reads one message per command, so a RETR
 * always finds the budget unused.
 */
const SYNC_TURN_FILES = 16;
const SYNC_TURN_BYTES = 512 * 1024;
let turnFiles = 0;
let turnBytes = 0;
let turnResetting = false;

function syncTurnLeft(): boolean {
  if (turnFiles >= SYNC_TURN_FILES || turnBytes >= SYNC_TURN_BYTES) return false;
  turnFiles++;
  if (!turnResetting) {
    turnResetting = true;
    setImmediate(() => {
      turnFiles = 0;
      turnBytes = 0;
      turnResetting = false;
    });
  }
  return true;
}

/** Opens a message file; undefined when it is gone (or a link was put in its place: ELOOP). */
function openMessage(file: string): number | undefined {
  try {
    return openSync(file, OPEN_FLAGS);
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ELOOP';
}

/** Room for more bytes than the file had at fstat (it grew), keeping what was read. */
function grow(buf: Buffer, used: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(buf.length * 2, 4096));
  buf.copy(next, 0, 0, used);
  return next;
}

/** Reads on from `got` until end of file (a read of 0 bytes) in the thread pool; closes fd in all cases. */
function readRestAsync(fd: number, buf: Buffer, got: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const step = (b: Buffer, at: number): void => {
      let room: Buffer;
      try {
        room = at === b.length ? grow(b, at) : b; // may throw (RangeError) in a callback: rejected, not uncaught
      } catch (err) {
        close(fd, () => undefined);
        return reject(err);
      }
      read(fd, room, at, room.length - at, at, (err, n) => {
        if (err) {
          close(fd, () => undefined);
          reject(err);
        } else if (n === 0) {
          close(fd, () => undefined);
          resolve(room.subarray(0, at));
        } else step(room, at + n);
      });
    };
    step(buf, got);
  });
}

/** Open, fstat and reads all in the thread pool (callbacks: no promise per step). */
function readAsync(file: string): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    open(file, OPEN_FLAGS, (err, fd) => {
      if (err) return isGone(err) ? resolve(undefined) : reject(err);
      fstat(fd, (err2, st) => {
        if (err2 || !st.isFile()) {
          close(fd, () => undefined);
          return err2 ? reject(err2) : resolve(undefined);
        }
        let buf: Buffer;
        try {
          // one byte more than the size: a file that grew shows in the first read
          buf = Buffer.allocUnsafe(st.size + 1);
        } catch (err3) {
          close(fd, () => undefined);
          return reject(err3);
        }
        readRestAsync(fd, buf, 0).then(resolve, reject);
      });
    });
  });
}

/**
 * The file's bytes with CRLF line ends, or undefined when it is gone (no such file, a link, no regular file).
 * Files up to `syncMax` bytes are read synchronously while this turn of the event loop has budget left (see
 * SYNC_READ_MAX, SYNC_TURN_FILES); with syncMax 0 nothing is done synchronously. Reading always goes on until a read
 * returns 0 bytes, so a file that grew since it was named or stat-ed is read whole. The bytes are taken as CRLF
 * without a scan only when the name says so (S= equal to W=) and the file still has that size.
 */
export function readMessageFile(file: string, syncMax = SYNC_READ_MAX): Buffer | undefined | Promise<Buffer | undefined> {
  if (syncMax <= 0 || !syncTurnLeft()) return readAsync(file).then((data) => data && asCrlf(file, data));
  const fd = openMessage(file);
  if (fd === undefined) return undefined;
  let buf: Buffer;
  let got = 0;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return undefined;
    }
    // one byte more than the size: a file that grew shows in the first read
    buf = Buffer.allocUnsafe(st.size + 1);
    if (st.size <= syncMax) {
      for (;;) {
        if (got === buf.length) {
          if (got > syncMax) break; // grew past the limit while read: the rest in the thread pool
          buf = grow(buf, got);
        }
        const n = readSync(fd, buf, got, buf.length - got, got);
        if (n === 0) break;
        got += n;
      }
      turnBytes += got;
      if (got < buf.length) {
        // the last read returned 0 bytes: end of file
        closeSync(fd);
        return asCrlf(file, buf.subarray(0, got));
      }
    }
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return readRestAsync(fd, buf, got).then((data) => asCrlf(file, data));
}

function asCrlf(file: string, data: Buffer): Buffer {
  return crlfKnown(file, data.length) ? data : toCrlf(data);
}
