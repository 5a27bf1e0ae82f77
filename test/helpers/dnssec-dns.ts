// Test DNS with DNSSEC outcomes: a dns2 UDP server on 127.0.0.1 standing in for a local validating resolver. Each
// name is secure (AD set in answers to queries that set AD or DO, RFC 6840 §5.7) unless marked insecure; a type
// can be made to answer SERVFAIL (what a validating resolver says of bogus data). TLSA rdata is given raw.
//
//   const dns = await startDnssecDns({
//     'dane.test': { records: [{ MX: [10, 'mx.dane.test'] }] },
//     'mx.dane.test': { records: [{ A: '127.0.0.1' }] },
//     '_2525._tcp.mx.dane.test': { records: [{ TLSA: rdata }], insecure: true },
//     '_2525._tcp.mx2.dane.test': { records: [], servfail: ['TLSA'] },
//   });
import type { AddressInfo } from 'node:net';
import dns2 from 'dns2';

const { Packet, UDPServer } = dns2;

export type DnssecRecord = { A: string } | { MX: [number, string] } | { TLSA: Buffer } | { CNAME: string } | { TXT: string };
export interface DnssecEntry {
  records: DnssecRecord[];
  /** Answers about this name carry no AD bit (an unsigned zone). */
  insecure?: boolean;
  /** Types answered with SERVFAIL (bogus). */
  servfail?: string[];
}

export interface DnssecDns {
  readonly server: string;
  /** Questions received: name, type, and whether the query set AD. */
  readonly log: Array<{ name: string; type: string; ad: boolean }>;
  set(name: string, entry: DnssecEntry): void;
  close(): Promise<void>;
}

type Header = dns2.Packet.Header & { ad?: number };
const norm = (n: string): string => n.toLowerCase().replace(/\.$/, '');
const TYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, MX: 15, TXT: 16, AAAA: 28, TLSA: 52 };
const typeOf = (code: number): string => Object.entries(TYPES).find(([, c]) => c === code)?.[0] ?? `TYPE${code}`;

function resource(owner: string, r: DnssecRecord): dns2.Packet.Resource {
  const base = { name: owner, class: 1, ttl: 0 };
  if ('A' in r) return { ...base, type: TYPES.A, address: r.A } as dns2.Packet.Resource;
  if ('MX' in r) return { ...base, type: TYPES.MX, priority: r.MX[0], exchange: r.MX[1] } as dns2.Packet.Resource;
  if ('CNAME' in r) return { ...base, type: TYPES.CNAME, domain: r.CNAME } as dns2.Packet.Resource;
  if ('TXT' in r) return { ...base, type: TYPES.TXT, data: r.TXT } as dns2.Packet.Resource;
  return { ...base, type: TYPES.TLSA, data: r.TLSA } as dns2.Packet.Resource;
}

const typeOfRecord = (r: DnssecRecord): string => Object.keys(r)[0] as string;

export async function startDnssecDns(zones: Record<string, DnssecEntry>): Promise<DnssecDns> {
  const map = new Map(Object.entries(zones).map(([k, v]) => [norm(k), v]));
  const log: DnssecDns['log'] = [];
  const server = new UDPServer((request: dns2.Packet, send: (r: dns2.Packet) => Promise<Buffer>) => {
    const q = request.questions[0];
    const response = Packet.createResponseFromRequest(request);
    const header = response.header as Header;
    header.ra = 1;
    header.ad = 0;
    if (!q) return void send(response).catch(() => undefined);
    const type = typeOf(q.type);
    const askedAd = (request.header as Header).ad === 1;
    log.push({ name: norm(q.name), type, ad: askedAd });
    let name = norm(q.name);
    let secure = true;
    for (let hop = 0; hop < 8; hop++) {
      const entry = map.get(name);
      if (!entry) {
        if (!response.answers.length) header.rcode = Packet.RCODE.NXDOMAIN;
        break;
      }
      if (entry.insecure) secure = false;
      if (entry.servfail?.includes(type)) {
        response.answers = [];
        header.rcode = Packet.RCODE.SERVFAIL;
        secure = false;
        break;
      }
      const cname = entry.records.find((r): r is { CNAME: string } => 'CNAME' in r);
      if (cname && type !== 'CNAME') {
        response.answers.push(resource(name, cname));
        name = norm(cname.CNAME);
        continue;
      }
      for (const r of entry.records) if (typeOfRecord(r) === type) response.answers.push(resource(name, r));
      break;
    }
    // RFC 6840 §5.7: AD only for a query that asked for it (AD or DO), and only for data that validated
    header.ad = askedAd && secure ? 1 : 0;
    void send(response).catch(() => undefined);
  });
  server.on('error', () => undefined);
  server.on('requestError', () => undefined);
  await server.listen(0, '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  return {
    server: `127.0.0.1:${port}`,
    log,
    set: (name, entry) => void map.set(norm(name), entry),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
