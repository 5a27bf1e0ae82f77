// DNSSEC-aware questions for DANE (RFC 7672 §2.1): asked with the AD bit set (RFC 6840 §5.7) of the configured,
// validating resolver, whose AD bit in the answer says the data was authenticated ("secure"); its absence means
// "insecure". A SERVFAIL is what a validating resolver answers for bogus data: it is never taken for insecure.
// No cache: answers decide one delivery's TLS and each question is bounded by the timeout.
import dns2 from 'dns2';
import type { NameServer } from './servers.ts';
import { query, TransportError, typeCode, type DnsPacket, type DnssecHeader } from './transport.ts';

const { Packet } = dns2;

/** NS only for the start-up probe of the root (dane-setup.ts). */
export type SecureType = 'MX' | 'A' | 'AAAA' | 'TLSA' | 'NS';

export type SecureAnswer =
  | {
      status: 'ok';
      /** RFC 4035 §3.2.3: the AD bit of the answer, set by a validating resolver for authenticated data. */
      secure: boolean;
      /** The records of the asked type at `owner`: raw rdata (TLSA), names (MX exchanges) or addresses. */
      records: Array<{ text: string; rdata: Buffer }>;
      /** The name the records belong to: the question name, or the end of the CNAME chain from it. */
      owner: string;
    }
  | { status: 'nxdomain' | 'nodata'; secure: boolean }
  /** SERVFAIL (bogus or indeterminate, RFC 7672 §2.1.1), timeout, REFUSED, a malformed answer. */
  | { status: 'temperror'; reason: string };

export interface SecureDns {
  lookup(name: string, type: SecureType): Promise<SecureAnswer>;
}

export interface SecureDnsOptions {
  servers: readonly NameServer[];
  timeoutMs: number;
  /** Further attempts after the first, to the following servers. */
  retries: number;
}

const norm = (n: string): string => n.toLowerCase().replace(/\.$/, '');

/** Longest CNAME chain followed inside one answer. */
const MAX_CHAIN = 8;

/** Maps one reply; records are followed from the question name along CNAMEs within the answer section. */
export function mapSecureReply(reply: DnsPacket, type: SecureType): SecureAnswer {
  const secure = (reply.header as DnssecHeader).ad === 1;
  const rcode = reply.header.rcode;
  if (rcode === Packet.RCODE.NXDOMAIN) return { status: 'nxdomain', secure };
  if (rcode !== Packet.RCODE.NOERROR) return { status: 'temperror', reason: rcode === Packet.RCODE.SERVFAIL ? 'SERVFAIL (bogus or unreachable)' : `rcode ${rcode}` };
  const broken = (reply.errors ?? []).find((e) => e.section === undefined || e.section === 'questions' || e.section === 'answers');
  if (broken) return { status: 'temperror', reason: `malformed answer: ${broken.message.slice(0, 120)}` };
  const wanted = typeCode(type);
  let owner = norm(reply.questions[0]?.name ?? '');
  for (let hop = 0; hop <= MAX_CHAIN; hop++) {
    const here = reply.answers.filter((r) => norm(r.name) === owner);
    const own = here.filter((r) => r.type === wanted);
    if (own.length) return { status: 'ok', secure, owner, records: own.map((r) => recordOf(r, type)) };
    const alias = here.find((r) => r.type === Packet.TYPE.CNAME);
    if (!alias?.domain) break;
    owner = norm(alias.domain);
  }
  if (reply.answers.some((r) => r.type === Packet.TYPE.CNAME)) return { status: 'temperror', reason: 'unresolved CNAME chain' };
  return { status: 'nodata', secure };
}

function recordOf(r: dns2.Packet.Resource, type: SecureType): { text: string; rdata: Buffer } {
  switch (type) {
    case 'TLSA':
      return { text: '', rdata: Buffer.isBuffer(r.data) ? r.data : Buffer.alloc(0) };
    case 'MX':
      return { text: norm(r.exchange ?? ''), rdata: Buffer.alloc(0) };
    default:
      return { text: r.address ?? '', rdata: Buffer.alloc(0) };
  }
}

export function createSecureDns(opts: SecureDnsOptions): SecureDns {
  const attempts = opts.retries + 1;
  let next = 0;
  return {
    async lookup(rawName, type) {
      const name = norm(rawName);
      let reason = 'no name server';
      const first = next++;
      for (let attempt = 0; attempt < attempts && opts.servers.length; attempt++) {
        const server = opts.servers[(first + attempt) % opts.servers.length] as NameServer;
        try {
          const { reply } = await query(server, name, type, opts.timeoutMs, { ad: true });
          const answer = mapSecureReply(reply, type);
          if (answer.status !== 'temperror') return answer;
          reason = answer.reason;
        } catch (err) {
          if (err instanceof TransportError && err.kind === 'badname') return { status: 'nxdomain', secure: false };
          reason = err instanceof TransportError && err.kind === 'timeout' ? 'timeout' : (err as Error).message;
        }
      }
      return { status: 'temperror', reason };
    },
  };
}
