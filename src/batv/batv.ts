// BATV at run time (draft-levine-smtp-batv-01): one Batv per config snapshot holds the keys and signed domains;
// it writes the tag into the envelope sender of our outgoing mail at hand-off (never the headers: DKIM signs
// the message, which is left as it is) and reads the tag of recipients at RCPT. Counted in spamgate_batv_total.
import type { Config } from '../config/schema.ts';
import { isSrsLocalPart } from '../mailhost/srs.ts';
import { counter, type Counter, type Registry } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import { readBatvKeyFile } from './batv-keys.ts';
import { checkPrvs, isPrvsAddress, parsePrvs, prvsSign, type PrvsCheck, type PrvsKey } from './prvs.ts';

const DAY_MS = 86_400_000;

export const BATV_RESULTS = ['signed', 'valid', 'invalid', 'unsigned'] as const;
export type BatvResult = (typeof BATV_RESULTS)[number];

export type BatvRecipient =
  /** Not a prvs= address at a signed domain: the recipient as it is. */
  | { kind: 'plain' }
  /** prvs= at a signed domain but no tag that can be read: the recipient as it is. */
  | { kind: 'malformed' }
  /** A tag read: the recipient is `address` (tag removed), the tag checked. */
  | { kind: 'tagged'; address: string; check: PrvsCheck };

export interface Batv {
  /** Whether senders at this domain are signed (and bounces to it checked). */
  signs(domain: string): boolean;
  unsignedBounces: 'score' | 'ignore';
  /** The envelope sender to hand outgoing mail on with: signed when of a signed domain, else as it is. Counted. */
  outgoingSender(mailFrom: string): string;
  /** The tag of a recipient, at the time of RCPT. Not counted (the check counts bounces). */
  readRecipient(address: string): BatvRecipient;
  count(result: BatvResult): void;
}

export interface BatvDeps {
  clock: Clock;
  results: Counter<'result'>;
}

function domainOf(address: string): { local: string; domain: string } {
  const at = address.lastIndexOf('@');
  return at < 0 ? { local: address, domain: '' } : { local: address.slice(0, at), domain: address.slice(at + 1).toLowerCase().replace(/\.$/, '') };
}

/** The counter, every result at 0 from the start so the dashboard's rates have a series before the first bounce. */
export function batvCounter(registry: Registry): Counter<'result'> {
  const c = counter(registry, 'spamgate_batv_total', 'BATV (bounce address tags): senders signed at hand-off (signed), bounces at RCPT with a valid tag (valid), a bad, expired or unreadable tag (invalid) or none (unsigned)', ['result']);
  for (const result of BATV_RESULTS) c.inc({ result }, 0);
  return c;
}

/** The keys of batv (inline, or the key file, which is read now: start and each reload). Throws naming the file. */
export function loadBatvKeys(cfg: Config['batv']): PrvsKey[] {
  if (cfg.keys) return cfg.keys.map((k) => ({ id: k.id, secret: k.secret }));
  if (cfg.key_file === undefined) throw new Error('batv: no keys (batv.keys or batv.key_file)');
  const read = readBatvKeyFile(cfg.key_file);
  if ('error' in read) throw new Error(`batv.key_file: ${read.error}`);
  return read.keys;
}

/**
 * The recipient from RCPT on (checks, envelope, delivery): a tagged address at a signed domain is the plain one
 * (its tag judged by the check), as is a well-formed tag at another of our domains, or at any of them with BATV
 * off: not judged (no key is there to judge it by), only removed, so that bounces and replies to the tags still
 * out there after BATV was turned off, or a domain taken out of batv.domains, reach the user during their days.
 */
export function plainRecipient(batv: Batv | undefined, address: string, localDomains: readonly string[]): string {
  const read = batv?.readRecipient(address);
  if (read?.kind === 'tagged') return read.address;
  if (read?.kind === 'malformed' || !isPrvsAddress(address)) return address;
  if (!localDomains.includes(domainOf(address).domain)) return address;
  const parsed = parsePrvs(address);
  return parsed.kind === 'tagged' ? parsed.address : address;
}

/** Undefined when batv is off. */
export function createBatv(config: Pick<Config, 'batv' | 'local_domains'>, deps: BatvDeps): Batv | undefined {
  const cfg = config.batv;
  if (!cfg.enabled) return undefined;
  const keys = loadBatvKeys(cfg);
  const signing = keys[0] as PrvsKey;
  const domains = new Set(cfg.domains ?? config.local_domains);
  const validityDays = Math.floor(cfg.max_age / DAY_MS);
  const signs = (domain: string): boolean => domains.has(domain.toLowerCase().replace(/\.$/, ''));
  return {
    signs,
    unsignedBounces: cfg.unsigned_bounces,
    outgoingSender(mailFrom) {
      // RFC 5321 §4.5.5: the null sender stays null (a bounce is never bounced); SRS addresses carry their own
      // hash and age and come back to the SRS rules; a tagged sender is not tagged twice.
      if (mailFrom === '') return mailFrom;
      const { local, domain } = domainOf(mailFrom);
      if (!signs(domain) || local === '' || local.startsWith('"') || isSrsLocalPart(local) || isPrvsAddress(mailFrom)) return mailFrom;
      // RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; a tag that would pass it is not written.
      if (Buffer.byteLength(local) + 16 > 64) return mailFrom;
      deps.results.inc({ result: 'signed' });
      return prvsSign(mailFrom, signing, deps.clock.now(), validityDays);
    },
    readRecipient(address) {
      if (!isPrvsAddress(address)) return { kind: 'plain' };
      if (!signs(domainOf(address).domain)) return { kind: 'plain' };
      const parsed = parsePrvs(address);
      if (parsed.kind === 'plain') return parsed;
      if (parsed.kind === 'malformed') return parsed;
      return { kind: 'tagged', address: parsed.address, check: checkPrvs(parsed, keys, deps.clock.now(), validityDays) };
    },
    count: (result) => deps.results.inc({ result }),
  };
}
