// COMPRESS=DEFLATE transport (RFC 4978): a duplex over the connection's socket (plain or TLS) that inflates what the
// client sends and deflates what the session writes, raw deflate both ways (RFC 4978 §4, RFC 1951).
import { Duplex } from 'node:stream';
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';

/** Inflated output is handed on in pieces this large; with backpressure, what one session holds stays this small. */
const CHUNK = 16 * 1024;

export class DeflateStream extends Duplex {
  private readonly inflate: InflateRaw;
  private readonly deflate: DeflateRaw;
  private flushQueued = false;
  /** Input is no longer inflated (see stopReading). */
  private stopped = false;
  /** Bytes the client sent compressed, and what they inflated to (figures for the log). */
  bytesIn = 0;
  bytesInflated = 0;

  constructor(
    private readonly inner: Duplex,
    onError: (err: Error) => void,
  ) {
    super({ allowHalfOpen: false, readableHighWaterMark: CHUNK });
    this.inflate = createInflateRaw({ chunkSize: CHUNK });
    this.deflate = createDeflateRaw({ chunkSize: CHUNK, level: constants.Z_DEFAULT_COMPRESSION });
    // Backpressure end to end: a session that stops reading pauses the inflater, which stops taking the socket's
    // bytes, so a small input that inflates hugely is never inflated ahead of the session (no buffering of the bomb).
    inner.on('data', (chunk: Buffer) => {
      if (this.stopped) return;
      this.bytesIn += chunk.length;
      if (!this.inflate.write(chunk)) inner.pause();
    });
    this.inflate.on('drain', () => inner.resume());
    inner.on('end', () => {
      if (!this.stopped) this.inflate.end();
      else this.push(null);
    });
    this.inflate.on('data', (chunk: Buffer) => {
      this.bytesInflated += chunk.length;
      if (!this.push(chunk)) this.inflate.pause();
    });
    this.inflate.on('end', () => this.push(null));
    this.deflate.on('data', (chunk: Buffer) => {
      if (!inner.destroyed && !inner.write(chunk)) this.deflate.pause();
    });
    inner.on('drain', () => this.deflate.resume());
    this.deflate.on('end', () => inner.end());
    // corrupt compressed data, or a zlib failure: the session cannot go on (its peer's stream is lost)
    const fail = (err: Error): void => {
      onError(err);
      this.destroy();
    };
    this.inflate.on('error', fail);
    this.deflate.on('error', fail);
    inner.on('close', () => this.destroy());
    // the socket's own errors are the server's to log; nothing may throw for want of a listener here
    this.on('error', onError);
  }

  /**
   * The session is cut off: nothing more is inflated, and what the client still sends is read and dropped (so it
   * is not blocked in its writes and reads the BYE) until the connection closes.
   */
  stopReading(): void {
    this.stopped = true;
    this.inflate.destroy();
    this.inner.resume();
  }

  override _read(): void {
    this.inflate.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.deflate.write(chunk, () => cb());
    this.queueFlush();
  }

  /**
   * Responses written in one turn of the event loop go out as one flushed block: the client always receives the
   * whole of every response, never left waiting for bytes the compressor holds back (RFC 4978 §4 Z_SYNC_FLUSH).
   */
  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      if (!this.deflate.destroyed && !this.deflate.writableEnded) this.deflate.flush(constants.Z_SYNC_FLUSH);
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.deflate.end(); // its 'end' ends the socket once the last block is out
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inflate.destroy();
    this.deflate.destroy();
    this.inner.destroy();
    cb(err);
  }
}
