// Test DNS: a dns2 authoritative server on 127.0.0.1 (UDP and TCP on one port) serving a zone map,
// plus an in-process Resolver over the same zone map for tests that need no sockets.
//
//   const dns = await startDnsServer({
//     'example.com': [{ A: '192.0.2.1' }, { MX: [10, 'mx.example.com'] }, { TXT: 'v=spf1 -all', ttl: 60 }],
//     'slow.example': 'TIMEOUT',          // never answered (UDP and TCP)
//     'broken.example': 'SERVFAIL',       // answered with SERVFAIL
//     'half.example': [{ TXT: 'v=spf1 -all' }, { TIMEOUT: true }],   // TXT answered, other types time out
//   });
//   createResolver({ servers: [dns.server], ... });   // dns.server is "127.0.0.1:<port>"
//   dns.count('example.com', 'TXT');  dns.set('new.example', [{ A: '192.0.2.9' }]);  await dns.close();
//
// A name not in the map is NXDOMAIN; a name in the map without records of the asked type is NODATA.
// Negative answers carry an SOA in the authority section whose TTL and MINIMUM are `negativeTtl`.
// CNAMEs are chased inside the map (up to 8 links). TXT strings longer than 255 octets are split.
import type { AddressInfo, Socket } from 'node:net';
import dns2 from 'dns2';
import type { DnsResult, RecordData, RecordType, Resolver } from '../../src/dns/resolver.ts';

const { Packet, TCPServer, UDPServer } = dns2;

export type ZoneValue =
  | { A: string }
  | { AAAA: string }
  | { MX: [number, string] }
  | { TXT: string | string[] }
  | { SPF: string | string[] }
  | { PTR: string }
  | { CNAME: string }
  | { NS: string }
  /** Questions for types this name has no records of go unanswered (a "braindead" server). */
  | { TIMEOUT: true };
export type ZoneRecord = ZoneValue & { ttl?: number };
export type ZoneEntry = ZoneRecord[] | 'TIMEOUT' | 'SERVFAIL' | 'REFUSED';
export type Zones = Record<string, ZoneEntry>;

export interface ZoneOptions {
  /** TTL of records without their own ttl (default 300). */
  defaultTtl?: number;
  /** SOA TTL and MINIMUM of negative answers (default 60). */
  negativeTtl?: number;
}

type QType = Exclude<RecordType, never> | 'SOA';
interface Answer {
  owner: string;
  type: RecordType;
  ttl: number;
  data: string | string[] | [number, string];
}
type ZoneAnswer =
  | { kind: 'answer'; answers: Answer[] }
  | { kind: 'nxdomain' | 'nodata'; soaOwner: string }
  | { kind: 'timeout' | 'servfail' | 'refused' };

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** The answer the zone map gives to one question; shared by the socket server and the in-process resolver. */
export function answerFromZones(zones: Map<string, ZoneEntry>, qname: string, qtype: QType, opts: ZoneOptions = {}): ZoneAnswer {
  const defaultTtl = opts.defaultTtl ?? 300;
  const answers: Answer[] = [];
  let name = norm(qname);
  for (let hop = 0; hop < 9; hop++) {
    const entry = zones.get(name);
    if (entry === undefined) return answers.length ? { kind: 'answer', answers } : { kind: 'nxdomain', soaOwner: soaOwnerOf(name) };
    if (entry === 'TIMEOUT') return { kind: 'timeout' };
    if (entry === 'SERVFAIL') return { kind: 'servfail' };
    if (entry === 'REFUSED') return { kind: 'refused' };
    const cname = entry.find((r): r is { CNAME: string } & { ttl?: number } => 'CNAME' in r);
    if (cname && qtype !== 'CNAME') {
      answers.push({ owner: name, type: 'CNAME', ttl: cname.ttl ?? defaultTtl, data: cname.CNAME });
      name = norm(cname.CNAME);
      continue;
    }
    for (const r of entry) {
      if ('TIMEOUT' in r) continue;
      const [type, data] = Object.entries(r).find(([k]) => k !== 'ttl') as [RecordType, Answer['data']];
      if (type === qtype) answers.push({ owner: name, type, ttl: r.ttl ?? defaultTtl, data });
    }
    if (!answers.some((x) => x.owner === name && x.type === qtype) && entry.some((r) => 'TIMEOUT' in r)) return { kind: 'timeout' };
    return answers.length ? { kind: 'answer', answers } : { kind: 'nodata', soaOwner: soaOwnerOf(name) };
  }
  return { kind: 'servfail' };
}

function soaOwnerOf(name: string): string {
  return name.split('.').slice(-2).join('.') || '.';
}

function toMap(zones: Zones): Map<string, ZoneEntry> {
  return new Map(Object.entries(zones).map(([k, v]) => [norm(k), v]));
}

/** An in-process Resolver over a zone map: TIMEOUT/SERVFAIL/REFUSED become temperror at once. */
export function createZoneResolver(zones: Zones, opts: ZoneOptions = {}): Resolver & { queries: number } {
  const map = toMap(zones);
  const negativeTtl = opts.negativeTtl ?? 60;
  const resolver = {
    queries: 0,
    async lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<T>> {
      resolver.queries++;
      const a = answerFromZones(map, name, type, opts);
      if (a.kind === 'timeout' || a.kind === 'servfail' || a.kind === 'refused') return { status: 'temperror', reason: a.kind };
      if (a.kind !== 'answer') return { status: a.kind, ttl: negativeTtl };
      const wanted = a.answers.filter((x) => x.type === type);
      if (!wanted.length) return { status: 'nodata', ttl: negativeTtl };
      const records = wanted.map((x) => recordData(x)) as RecordData<T>[];
      return { status: 'ok', records, ttl: Math.min(...a.answers.map((x) => x.ttl)) };
    },
  };
  return resolver;
}

function recordData(a: Answer): string | { exchange: string; priority: number } {
  if (a.type === 'MX') {
    const [priority, exchange] = a.data as [number, string];
    return { exchange: norm(exchange), priority };
  }
  if (a.type === 'TXT' || a.type === 'SPF') return Array.isArray(a.data) ? (a.data as string[]).join('') : (a.data as string);
  return typeof a.data === 'string' ? norm(a.data) : String(a.data);
}

export interface QueryLogEntry {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
}

export interface TestDnsServer {
  readonly port: number;
  /** "127.0.0.1:<port>", the form dns.servers takes. */
  readonly server: string;
  /** Every question received, in order. */
  readonly log: readonly QueryLogEntry[];
  /** Questions received for a name (and type, if given). */
  count(name: string, type?: string): number;
  /** Replace (or add) the entry of a name. */
  set(name: string, entry: ZoneEntry): void;
  delete(name: string): void;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1 with UDP and TCP on the same (ephemeral) port. */
export async function startDnsServer(zones: Zones, opts: ZoneOptions = {}): Promise<TestDnsServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      return await tryStart(zones, opts);
    } catch (err) {
      lastError = err; // the UDP port was taken on TCP: try another
    }
  }
  throw lastError;
}

async function tryStart(zones: Zones, opts: ZoneOptions): Promise<TestDnsServer> {
  const map = toMap(zones);
  const log: QueryLogEntry[] = [];
  const negativeTtl = opts.negativeTtl ?? 60;
  const sockets = new Set<Socket>();

  const handle = (transport: 'udp' | 'tcp') => (request: dns2.Packet, send: (r: dns2.Packet) => Promise<Buffer>): void => {
    const q = request.questions[0];
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    if (!q) {
      response.header.rcode = Packet.RCODE.FORMERR;
      void send(response).catch(() => undefined);
      return;
    }
    const type = Packet.typeName(q.type) as QType;
    log.push({ name: norm(q.name), type, transport });
    const a = answerFromZones(map, q.name, type, opts);
    if (a.kind === 'timeout') return;
    if (a.kind === 'servfail' || a.kind === 'refused') {
      response.header.rcode = a.kind === 'servfail' ? Packet.RCODE.SERVFAIL : Packet.RCODE.REFUSED;
    } else if (a.kind === 'answer') {
      for (const x of a.answers) response.answers.push(toResource(x));
    } else if (a.kind === 'nxdomain' || a.kind === 'nodata') {
      if (a.kind === 'nxdomain') response.header.rcode = Packet.RCODE.NXDOMAIN;
      response.authorities.push(soaResource(a.soaOwner, negativeTtl));
    }
    void send(response).catch(() => undefined);
  };

  const udp = new UDPServer(handle('udp'));
  udp.on('error', () => undefined);
  udp.on('requestError', () => undefined);
  await udp.listen(0, '127.0.0.1');
  const port = (udp.address() as AddressInfo).port;
  const tcp = new TCPServer(handle('tcp'));
  tcp.on('requestError', () => undefined);
  tcp.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', () => {
      tcp.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await new Promise<void>((r) => udp.close(() => r()));
    throw err;
  });

  return {
    port,
    server: `127.0.0.1:${port}`,
    log,
    count: (name, type) => log.filter((e) => e.name === norm(name) && (type === undefined || e.type === type)).length,
    set: (name, entry) => void map.set(norm(name), entry),
    delete: (name) => void map.delete(norm(name)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}

function toResource(a: Answer): dns2.Packet.Resource {
  const base = { name: a.owner, type: Packet.TYPE[a.type], class: Packet.CLASS.IN, ttl: a.ttl };
  switch (a.type) {
    case 'A':
    case 'AAAA':
      return { ...base, address: a.data as string } as dns2.Packet.Resource;
    case 'MX': {
      const [priority, exchange] = a.data as [number, string];
      return { ...base, priority, exchange } as dns2.Packet.Resource;
    }
    case 'TXT':
    case 'SPF': {
      const parts = Array.isArray(a.data) ? (a.data as string[]) : [a.data as string];
      return { ...base, data: parts.flatMap(split255) } as unknown as dns2.Packet.Resource;
    }
    case 'NS':
      return { ...base, ns: a.data as string } as dns2.Packet.Resource;
    default:
      return { ...base, domain: a.data as string } as dns2.Packet.Resource;
  }
}

function split255(s: string): Buffer[] {
  const buf = Buffer.from(s, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length || i === 0; i += 255) out.push(buf.subarray(i, i + 255));
  return out;
}

function soaResource(owner: string, ttl: number): dns2.Packet.Resource {
  return {
    name: owner,
    type: Packet.TYPE.SOA,
    class: Packet.CLASS.IN,
    ttl,
    primary: 'ns.test',
    admin: 'hostmaster.test',
    serial: 1,
    refresh: 3600,
    retry: 600,
    expiration: 86400,
    minimum: ttl,
  } as dns2.Packet.Resource;
}
