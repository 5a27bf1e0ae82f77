// The message of one milter transaction, rebuilt from HEADER and BODY packets: its header fields in order (for
// the per-name indexes SMFIR_CHGHEADER uses) and its bytes, kept up to the size limit and counted past it.

export interface HeaderField {
  name: string;
  value: string;
  /** Which field of this name it is, from 1 (case-insensitive), as SMFIR_CHGHEADER counts. */
  index: number;
}

export class MessageBuffer {
  readonly headers: HeaderField[] = [];
  private readonly chunks: Buffer[] = [];
  private readonly perName = new Map<string, number>();
  /** Bytes the message has, kept or not. */
  bytes = 0;
  private endOfHeaders = false;

  /** leadingSpace: values come as written after the colon (SMFIP_HDR_LEADSPC); otherwise one space goes between. */
  constructor(private readonly limit: number, private readonly leadingSpace: boolean) {}

  get exceeded(): boolean {
    return this.bytes > this.limit;
  }

  /** Distinct field names whose count is held: only those of fields kept, so bounded by the size limit. */
  get namesCounted(): number {
    return this.perName.size;
  }

  addHeader(name: string, value: string): void {
    // a folded value comes with bare LF between its lines (as the MTA keeps it)
    const line = `${name}:${this.leadingSpace ? '' : ' '}${value}`.replace(/\r?\n/g, '\r\n') + '\r\n';
    const bytes = Buffer.from(line, 'latin1');
    // past the limit the message is refused: nothing more of it is kept, not even its field names' count (a peer
    // that goes on sending new names after the refusal must not grow the map); no field after it is kept either,
    // so the indexes of those kept stay right
    if (this.bytes + bytes.length <= this.limit) {
      const key = name.toLowerCase();
      const index = (this.perName.get(key) ?? 0) + 1;
      this.perName.set(key, index);
      this.headers.push({ name, value: value.replace(/^[ \t]+/, ''), index });
    }
    this.keep(bytes);
  }

  endHeaders(): void {
    if (this.endOfHeaders) return;
    this.endOfHeaders = true;
    this.keep(Buffer.from('\r\n', 'latin1'));
  }

  addBody(chunk: Buffer): void {
    this.endHeaders();
    this.keep(chunk);
  }

  /** The message as kept (only meaningful when not exceeded). */
  raw(): Buffer {
    this.endHeaders();
    return Buffer.concat(this.chunks);
  }

  private keep(bytes: Buffer): void {
    this.bytes += bytes.length;
    if (this.bytes <= this.limit) this.chunks.push(bytes);
  }
}
