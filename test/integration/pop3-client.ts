// A minimal raw POP3 client for tests and the benchmark: send a line, read a single- or multi-line reply.
import { connect, type Socket } from 'node:net';

export class RawPop3 {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawPop3> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => resolve(new RawPop3(s)));
      s.once('error', reject);
    });
  }

  /** Waits until `find(buf)` returns an end offset; returns the bytes up to it. Undefined if the peer closed first. */
  private async take(find: (b: Buffer) => number): Promise<Buffer | undefined> {
    for (;;) {
      const end = find(this.buf);
      if (end >= 0) {
        const out = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end);
        return out;
      }
      if (this.closed) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async line(): Promise<string | undefined> {
    const b = await this.take((buf) => {
      const i = buf.indexOf('\r\n');
      return i < 0 ? -1 : i + 2;
    });
    return b?.subarray(0, b.length - 2).toString('utf8');
  }

  /** Reads a multi-line body up to "\r\n.\r\n" (after the status line), returned raw (still dot-stuffed). */
  async multiline(): Promise<Buffer | undefined> {
    const b = await this.take((buf) => {
      if (buf.subarray(0, 3).equals(Buffer.from('.\r\n'))) return 3;
      const i = buf.indexOf('\r\n.\r\n');
      return i < 0 ? -1 : i + 5;
    });
    return b;
  }

  send(line: string): void {
    this.sock.write(line + '\r\n');
  }

  async cmd(line: string): Promise<string | undefined> {
    this.send(line);
    return this.line();
  }

  /** Resolves when the server closes the connection. */
  closedPromise(): Promise<void> {
    return this.take(() => (this.closed ? 0 : -1)).then(() => undefined);
  }

  destroy(): void {
    this.sock.destroy();
  }
}
