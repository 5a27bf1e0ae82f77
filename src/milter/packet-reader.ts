// Frames the milter byte stream into packets, bounded: a length of zero or over the limit is a protocol error
// (the connection is closed), and no more than one packet's worth of bytes is ever held.

export interface MilterPacket {
  cmd: string;
  data: Buffer;
}

export class PacketError extends Error {}

export class PacketReader {
  private chunks: Buffer[] = [];
  private held = 0;
  private need: number | undefined;

  constructor(private readonly maxPacket: number) {}

  /** Adds bytes; returns the whole packets they complete. Throws PacketError on a bad length. */
  push(bytes: Buffer): MilterPacket[] {
    this.chunks.push(bytes);
    this.held += bytes.length;
    const out: MilterPacket[] = [];
    for (;;) {
      if (this.held < 4) break;
      // the length is read once; the bytes of a long packet are joined only when all have come
      if (this.need === undefined) {
        const len = this.flatten().readUInt32BE(0);
        if (len === 0) throw new PacketError('zero-length packet');
        if (len > this.maxPacket) throw new PacketError(`packet of ${len} bytes exceeds ${this.maxPacket}`);
        this.need = len;
      }
      const len = this.need;
      if (this.held < 4 + len) break;
      const buf = this.flatten();
      this.need = undefined;
      out.push({ cmd: String.fromCharCode(buf[4] ?? 0), data: Buffer.from(buf.subarray(5, 4 + len)) });
      const rest = buf.subarray(4 + len);
      this.chunks = rest.length ? [rest] : [];
      this.held = rest.length;
    }
    return out;
  }

  private flatten(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }
}
