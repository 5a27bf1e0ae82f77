// One DNS question to one name server: UDP first, TCP when the answer is truncated (RFC 1035 §4.2.1,
// RFC 7766 §5), each bounded by a timeout; messages are built and parsed with dns2's Packet.
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { randomInt } from 'node:crypto';
import { domainToASCII } from 'node:url';
import dns2 from 'dns2';
import type { NameServer } from './servers.ts';

const { Packet } = dns2;
export type DnsPacket = dns2.Packet;

export class TransportError extends Error {
  constructor(
    readonly kind: 'timeout' | 'network' | 'badname' | 'malformed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The name as it goes on the wire: ASCII. A Unicode name (an SPF macro expanding an SMTPUTF8 local part,
 * an IDN) becomes its A-labels (RFC 5891); one that has none cannot exist in the DNS ('badname'): dns2
 * would write each character's low byte and the reply would never match the question.
 */
export function wireName(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(name)) return name;
  const ascii = domainToASCII(name);
  if (!ascii) throw new TransportError('badname', `not a DNS name: ${JSON.stringify(name.slice(0, 100))}`);
  return ascii;
}

/** Types dns2 has no name for, asked by number (their rdata is kept raw and decoded by the caller). */
const EXTRA_TYPES: Record<string, number> = { TLSA: 52 };

/** The numeric code of a record type name. */
export function typeCode(type: string): number | undefined {
  return (Packet.TYPE as Record<string, number>)[type] ?? EXTRA_TYPES[type];
}

/** The header bits dns2's typings leave out (RFC 4035 §3.2: AD and CD). */
export type DnssecHeader = dns2.Packet.Header & { ad?: number; cd?: number };

/** Options of one question. */
export interface QueryFlags {
  /**
   * RFC 6840 §5.7: AD set in a query asks a validating resolver to report, in the AD bit of its answer, whether
   * the data was authenticated (DANE, RFC 7672 §2.1); no EDNS DO bit is needed for that.
   */
  ad?: boolean;
}

function buildQuery(name: string, type: string, flags: QueryFlags = {}): { id: number; buffer: Buffer } {
  const packet = new Packet();
  packet.header.id = randomInt(0, 65536);
  packet.header.rd = 1;
  if (flags.ad) (packet.header as DnssecHeader).ad = 1;
  const code = typeCode(type);
  if (code === undefined) throw new TransportError('badname', `unsupported record type ${type}`);
  packet.questions.push({ name, type: code, class: Packet.CLASS.IN } as dns2.Packet.Question);
  try {
    return { id: packet.header.id, buffer: packet.toBuffer() };
  } catch (err) {
    throw new TransportError('badname', `cannot encode ${name}: ${(err as Error).message}`);
  }
}

/** The reply must answer our question: same id, same name and type (RFC 5452 §9.1). */
function matches(reply: DnsPacket, id: number, name: string, type: string): boolean {
  const q = reply.questions[0];
  return (
    reply.header.id === id &&
    reply.header.qr === 1 &&
    q !== undefined &&
    q.name.toLowerCase().replace(/\.$/, '') === name.toLowerCase().replace(/\.$/, '') &&
    q.type === typeCode(type)
  );
}

export function queryUdp(server: NameServer, name: string, type: string, timeoutMs: number, flags: QueryFlags = {}): Promise<DnsPacket> {
  const { id, buffer } = buildQuery(name, type, flags);
  const socket = createSocket(isIPv6(server.host) ? 'udp6' : 'udp4');
  return new Promise<DnsPacket>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, reply?: DnsPacket): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(reply as DnsPacket);
    };
    const timer = setTimeout(() => finish(new TransportError('timeout', `no UDP answer from ${server.host}:${server.port} in ${timeoutMs}ms`)), timeoutMs);
    socket.on('error', (err) => finish(new TransportError('network', err.message)));
    socket.on('message', (msg, rinfo) => {
      if (rinfo.port !== server.port || rinfo.address !== server.host) return; // not from our server
      let reply: DnsPacket;
      try {
        reply = Packet.parse(msg);
      } catch {
        return; // undecodable datagram: keep waiting for the real one
      }
      if (matches(reply, id, name, type)) finish(undefined, reply);
    });
    socket.send(buffer, server.port, server.host, (err) => {
      if (err) finish(new TransportError('network', err.message));
    });
  });
}

export function queryTcp(server: NameServer, name: string, type: string, timeoutMs: number, flags: QueryFlags = {}): Promise<DnsPacket> {
  const { id, buffer } = buildQuery(name, type, flags);
  return new Promise<DnsPacket>((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    let done = false;
    let received = Buffer.alloc(0);
    const finish = (err: Error | undefined, reply?: DnsPacket): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply as DnsPacket);
    };
    const timer = setTimeout(() => finish(new TransportError('timeout', `no TCP answer from ${server.host}:${server.port} in ${timeoutMs}ms`)), timeoutMs);
    socket.on('error', (err) => finish(new TransportError('network', err.message)));
    socket.on('close', () => finish(new TransportError('network', 'TCP connection closed before the answer')));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // RFC 1035 §4.2.2: each TCP message is preceded by a two-octet length.
      if (received.length < 2) return;
      const len = received.readUInt16BE(0);
      if (received.length < 2 + len) return;
      try {
        const reply = Packet.parse(received.subarray(2, 2 + len));
        if (matches(reply, id, name, type)) finish(undefined, reply);
        else finish(new TransportError('malformed', 'TCP answer does not match the question'));
      } catch (err) {
        finish(new TransportError('malformed', (err as Error).message));
      }
    });
    const len = Buffer.alloc(2);
    len.writeUInt16BE(buffer.length);
    socket.write(Buffer.concat([len, buffer]));
  });
}

/** UDP, then TCP for a truncated answer; the TCP retry gets what is left of the timeout, at least 1/2 of it. */
export async function query(server: NameServer, rawName: string, type: string, timeoutMs: number, flags: QueryFlags = {}): Promise<{ reply: DnsPacket; tcp: boolean }> {
  const name = wireName(rawName);
  const started = Date.now();
  const reply = await queryUdp(server, name, type, timeoutMs, flags);
  if (!reply.header.tc) return { reply, tcp: false };
  const left = Math.max(timeoutMs - (Date.now() - started), Math.ceil(timeoutMs / 2));
  return { reply: await queryTcp(server, name, type, left, flags), tcp: true };
}
