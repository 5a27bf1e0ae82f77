// The Sendmail milter protocol, version 6 (as Postfix speaks it): command and reply codes, the option
// negotiation flags, and the encoding of packets (a 4-byte big-endian length, one command byte, its data).

export const MILTER_VERSION = 6;

/** Commands from the MTA. */
export const Cmd = {
  ABORT: 'A',
  BODY: 'B',
  CONNECT: 'C',
  MACRO: 'D',
  BODYEOB: 'E',
  HELO: 'H',
  QUIT_NC: 'K',
  HEADER: 'L',
  MAIL: 'M',
  EOH: 'N',
  OPTNEG: 'O',
  QUIT: 'Q',
  RCPT: 'R',
  DATA: 'T',
  UNKNOWN: 'U',
} as const;

/** Replies to the MTA. */
export const Reply = {
  ADDRCPT: '+',
  DELRCPT: '-',
  ACCEPT: 'a',
  CONTINUE: 'c',
  DISCARD: 'd',
  ADDHEADER: 'h',
  INSHEADER: 'i',
  CHGHEADER: 'm',
  PROGRESS: 'p',
  QUARANTINE: 'q',
  REJECT: 'r',
  TEMPFAIL: 't',
  REPLYCODE: 'y',
  CHGFROM: 'e',
  OPTNEG: 'O',
} as const;

/** Actions (SMFIF_*): what the milter may do to the message at end of body. */
export const Action = {
  ADDHDRS: 0x01,
  CHGBODY: 0x02,
  ADDRCPT: 0x04,
  DELRCPT: 0x08,
  CHGHDRS: 0x10,
  QUARANTINE: 0x20,
  /** Change the envelope sender (milter protocol 6). */
  CHGFROM: 0x40,
} as const;

/** Protocol flags (SMFIP_*): steps the milter does not want, and how headers are sent. */
export const Proto = {
  NOCONNECT: 0x01,
  NOHELO: 0x02,
  NOMAIL: 0x04,
  NORCPT: 0x08,
  NOBODY: 0x10,
  NOHDRS: 0x20,
  NOEOH: 0x40,
  NOUNKNOWN: 0x100,
  NODATA: 0x200,
  /** Header values are sent with their leading space (the field as written). */
  HDR_LEADSPC: 0x100000,
} as const;

/**
 * What spamgate asks for: adding and changing headers (result, subject, DKIM-Signature), the MTA's quarantine
 * (hold), replacing a recipient (a BATV-tagged recipient at our domains by its plain address) and the envelope
 * sender (the BATV tag of our own outgoing mail).
 */
export const WANTED_ACTIONS = Action.ADDHDRS | Action.CHGHDRS | Action.QUARANTINE | Action.ADDRCPT | Action.DELRCPT | Action.CHGFROM;
/** Steps spamgate has no use for (the MTA skips them when it can), and headers as written. */
export const WANTED_PROTOCOL = Proto.NOUNKNOWN | Proto.NODATA | Proto.HDR_LEADSPC;

/** One packet on the wire. */
export function packet(cmd: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(data.length + 1, 0);
  head.write(cmd, 4, 'latin1');
  return Buffer.concat([head, data]);
}

/** NUL-terminated strings, as the milter protocol sends them. */
export function cstrings(...parts: string[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(`${p.replace(/\0/g, '')}\0`, 'latin1')));
}

/** Splits data made of NUL-terminated strings (a missing last NUL is tolerated). */
/**
 * The first NUL-terminated string of `data` (all of it when there is no NUL), decoded from at most its first
 * `maxBytes` bytes: a string cut after decoding would hold on to the whole text it was cut from, up to a packet's
 * 1 MiB, for as long as the session keeps it.
 */
export function firstCString(data: Buffer, maxBytes: number): string {
  const nul = data.indexOf(0);
  return data.subarray(0, Math.min(nul < 0 ? data.length : nul, maxBytes)).toString('latin1');
}

export function splitCStrings(data: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0) {
      out.push(data.subarray(start, i).toString('latin1'));
      start = i + 1;
    }
  }
  if (start < data.length) out.push(data.subarray(start).toString('latin1'));
  return out;
}

/** SMFIC_OPTNEG's answer: the version spoken (never above the MTA's), the actions and protocol flags wanted. */
export function optnegReply(version: number, actions: number, protocol: number): Buffer {
  const data = Buffer.alloc(12);
  data.writeUInt32BE(version, 0);
  data.writeUInt32BE(actions, 4);
  data.writeUInt32BE(protocol, 8);
  return packet(Reply.OPTNEG, data);
}

/**
 * SMFIR_REPLYCODE: "550 5.7.1 text" (one line; no control characters; "%" doubled, as Sendmail reads it as a
 * format). Postfix takes only a 4xx or 5xx code followed by an enhanced code of the same class (anything else
 * disables the milter for the session): another code is 451, an enhanced code of another class is given the code's.
 */
export function replyCode(code: number, enhanced: string, text: string): Buffer {
  const valid = Number.isInteger(code) && code >= 400 && code < 600;
  const c = valid ? code : 451;
  const cls = String(c)[0] ?? '4';
  const detail = valid ? /^[245]\.(\d{1,3}\.\d{1,3})$/.exec(enhanced)?.[1] : '3.0';
  const clean = text.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 400).replace(/%/g, '%%');
  return packet(Reply.REPLYCODE, cstrings(`${c} ${cls}.${detail ?? '0.0'} ${clean}`));
}

export function addHeader(name: string, value: string): Buffer {
  return packet(Reply.ADDHEADER, cstrings(name, value));
}

/** SMFIR_INSHEADER at index (0: before every other field). */
export function insertHeader(index: number, name: string, value: string): Buffer {
  const idx = Buffer.alloc(4);
  idx.writeUInt32BE(index, 0);
  return packet(Reply.INSHEADER, Buffer.concat([idx, cstrings(name, value)]));
}

/** SMFIR_CHGHEADER of the index-th field of that name (from 1); an empty value deletes it. */
export function changeHeader(index: number, name: string, value: string): Buffer {
  const idx = Buffer.alloc(4);
  idx.writeUInt32BE(index, 0);
  return packet(Reply.CHGHEADER, Buffer.concat([idx, cstrings(name, value)]));
}

export function quarantine(reason: string): Buffer {
  return packet(Reply.QUARANTINE, cstrings(reason.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 200)));
}

/** SMFIR_DELRCPT: the recipient as the MTA reported it (Postfix compares it with the RCPT TO address). */
export function deleteRecipient(address: string): Buffer {
  return packet(Reply.DELRCPT, cstrings(address));
}

export function addRecipient(address: string): Buffer {
  return packet(Reply.ADDRCPT, cstrings(`<${address}>`));
}

/** SMFIR_CHGFROM: the new envelope sender, without ESMTP parameters (the MTA keeps the ones it has). */
export function changeFrom(address: string): Buffer {
  return packet(Reply.CHGFROM, cstrings(`<${address}>`));
}
