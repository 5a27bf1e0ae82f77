// The message as the MTA will deliver it after our end-of-body header changes: the packets spamgate sends
// (SMFIR_INSHEADER, SMFIR_CHGHEADER, SMFIR_ADDHEADER) applied to the header fields the MTA showed us, in order,
// as Sendmail's and Postfix's milter code apply them. A DKIM signature made over this covers what is delivered.
import { Reply, splitCStrings } from './protocol.ts';

interface Field {
  name: string;
  /** Everything after the colon, folding (CRLF) included, without the final CRLF. */
  value: string;
}

/** The header fields of a message whose lines end in CRLF (MessageBuffer's form), and its body (after the blank line). */
function split(raw: Buffer): { fields: Field[]; body: Buffer } {
  const text = raw.toString('latin1');
  const end = text.startsWith('\r\n') ? 0 : text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const bodyStart = end < 0 ? raw.length : end === 0 ? 2 : end + 4;
  const fields: Field[] = [];
  for (const line of head.split(/\r\n(?![ \t])/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.push({ name: line.slice(0, colon), value: line.slice(colon + 1) });
  }
  return { fields, body: raw.subarray(bodyStart) };
}

/**
 * A value we send, as the MTA writes it: lines joined by LF in the packet become CRLF; with SMFIP_HDR_LEADSPC
 * the value is written as given after the colon, otherwise the MTA puts one space before it.
 */
function written(value: string, leadingSpace: boolean): string {
  return (leadingSpace ? value : ` ${value}`).replace(/\r?\n/g, '\r\n');
}

/** The position in `fields` of the index-th field named `name` (from 1, case-insensitive), or -1. */
function nth(fields: readonly Field[], name: string, index: number): number {
  const lower = name.toLowerCase();
  let seen = 0;
  for (let i = 0; i < fields.length; i++) {
    if (fields[i]?.name.toLowerCase() !== lower) continue;
    if (++seen === index) return i;
  }
  return -1;
}

/** `raw` (the message as the MTA sent it to us) with the header packets among `packets` applied; other packets are ignored. */
export function applyHeaderPackets(raw: Buffer, packets: readonly Buffer[], leadingSpace: boolean): Buffer {
  const { fields, body } = split(raw);
  for (const p of packets) {
    const cmd = String.fromCharCode(p[4] ?? 0);
    const data = p.subarray(5);
    if (cmd === Reply.ADDHEADER) {
      const [name = '', value = ''] = splitCStrings(data);
      fields.push({ name, value: written(value, leadingSpace) });
    } else if (cmd === Reply.INSHEADER || cmd === Reply.CHGHEADER) {
      const index = data.readUInt32BE(0);
      const [name = '', value = ''] = splitCStrings(data.subarray(4));
      if (cmd === Reply.INSHEADER) {
        // index 0 is above every field; past the end, the field is appended
        fields.splice(Math.min(index, fields.length), 0, { name, value: written(value, leadingSpace) });
        continue;
      }
      const at = nth(fields, name, index);
      // an empty value deletes the field; a change of a field that is not there adds it (Sendmail's smfi_chgheader)
      if (at < 0) {
        if (value !== '') fields.push({ name, value: written(value, leadingSpace) });
      } else if (value === '') fields.splice(at, 1);
      else fields[at] = { name, value: written(value, leadingSpace) };
    }
  }
  const head = fields.map((f) => `${f.name}:${f.value}\r\n`).join('');
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
}
