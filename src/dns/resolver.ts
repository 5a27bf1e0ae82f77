// The Resolver interface every DNS-using check shares; DNS trouble is a result, never a throw.
export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'CNAME' | 'NS' | 'SPF';

export interface MxRecord {
  exchange: string;
  priority: number;
}

/** Answer data by record type: addresses and names as strings, TXT as joined strings, MX as objects. */
export type RecordData<T extends RecordType> = T extends 'MX' ? MxRecord : string;

export type DnsResult<T extends RecordType> =
  | { status: 'ok'; records: RecordData<T>[]; ttl: number }
  /** NXDOMAIN (name does not exist) or NODATA (name exists, no records of this type). */
  | { status: 'nxdomain' | 'nodata'; ttl: number }
  /** Timeout, SERVFAIL, REFUSED, network error: try again later (RFC 7208 temperror). */
  | { status: 'temperror'; reason: string };

export interface Resolver {
  lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<T>>;
}
