// SRS at run time: the domain and secrets from config, the sender rewrite of copies that aliases forward to
// other domains, and the check of SRS recipients (bounces coming back) at RCPT and again at delivery;
// counted in spamgate_srs_forward_total / spamgate_srs_reverse_total and logged.
import type { Config } from '../config/schema.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { isSrsLocalPart, srsForward, srsReverse } from './srs.ts';
import { loadSrsSecrets, WEAK_SECRET_LENGTH } from './srs-secret.ts';

const DAY_MS = 86_400_000;

export type SrsRecipient =
  | { kind: 'ok'; address: string; scheme: 'SRS0' | 'SRS1' }
  /** not-bounce: srs.bounces_only and the sender is not `<>`. */
  | { kind: 'refused'; reason: 'malformed' | 'bad-hash' | 'expired' | 'not-bounce' };

export interface Srs {
  domain: string;
  /** An SRS0/SRS1 local part at the SRS domain: the SRS rules decide, not users or aliases (nor a catch-all). */
  handles(address: string): boolean;
  /** The envelope sender for a copy forwarded to remote alias members (the sender itself when not rewritten). */
  forwardSender(mailFrom: string, alias: string): string;
  /** At RCPT, now: counted and logged. */
  checkRecipient(address: string, mailFrom: string): SrsRecipient;
  /** At delivery: the same rules at the time the message was accepted (a queued bounce does not expire in the queue). */
  reverse(address: string, mailFrom: string, acceptedAtMs: number): SrsRecipient;
  /**
   * Reads the secrets file again (SIGHUP: a secret added for rotation, an old one dropped); a file that cannot
   * be read or holds none keeps the running secrets, logged.
   */
  reloadSecrets(): void;
}

export interface SrsDeps {
  config: Pick<Config, 'srs' | 'local_domains' | 'queue'>;
  /** The running config's local_domains (a reload changes them; senders there are not rewritten); default: config's. */
  localDomains?: () => readonly string[];
  dataDir: string;
  clock: Clock;
  log: Logger;
  registry: Registry;
}

function split(address: string): { local: string; domain: string } {
  const at = address.lastIndexOf('@');
  return at < 0 ? { local: address, domain: '' } : { local: address.slice(0, at), domain: address.slice(at + 1).toLowerCase().replace(/\.$/, '') };
}

/** Undefined when SRS is off. Throws (start fails) when the secrets file cannot be made or read. */
export function openSrs(deps: SrsDeps): Srs | undefined {
  const cfg = deps.config.srs;
  if (!cfg.enabled) return undefined;
  const domain = cfg.domain ?? deps.config.local_domains[0] ?? 'localhost';
  const loaded = loadSrsSecrets(deps.dataDir, cfg.secret_file);
  const { file, created } = loaded;
  let secrets = loaded.secrets;
  let signing = secrets[0] ?? '';
  const maxAgeDays = Math.floor(cfg.max_age / DAY_MS);
  const given = deps.localDomains ?? ((): readonly string[] => deps.config.local_domains);
  let locals: { from: readonly string[]; set: ReadonlySet<string> } | undefined;
  const isLocal = (d: string): boolean => {
    const from = given();
    if (locals?.from !== from) locals = { from, set: new Set(from.map((x) => x.toLowerCase())) };
    return locals.set.has(d.toLowerCase());
  };
  const forwards = counter(deps.registry, 'spamgate_srs_forward_total', 'Senders of copies forwarded by aliases to other domains, by SRS result (srs0, srs1 rewritten; null_sender, local_sender, too_long, unsupported kept)', ['result']);
  const reverses = counter(deps.registry, 'spamgate_srs_reverse_total', 'Recipients at the SRS domain checked at RCPT, by result (srs0, srs1 accepted; malformed, bad_hash, expired, not_bounce refused)', ['result']);
  // every result is exported from the start (at 0), so the dashboard's rates have a series before the first forward
  for (const result of ['srs0', 'srs1', 'null_sender', 'local_sender', 'too_long', 'unsupported']) forwards.inc({ result }, 0);
  for (const result of ['srs0', 'srs1', 'malformed', 'bad_hash', 'expired', 'not_bounce']) reverses.inc({ result }, 0);
  const log = deps.log.child({ component: 'srs' });
  log.info(created ? 'SRS secret made' : 'SRS secrets read', { file, secrets: secrets.length, domain, max_age_days: maxAgeDays });
  // spamgate's own failure notice for a forwarded copy comes up to queue.max_age later, through the SRS address.
  if (cfg.max_age < deps.config.queue.max_age) {
    log.warn('srs.max_age is shorter than queue.max_age: a failure notice for a forwarded copy that spamgate gives up on late finds its SRS address expired and is lost', { srs_max_age_days: maxAgeDays, queue_max_age_days: deps.config.queue.max_age / DAY_MS });
  }
  const warnWeak = (weak: number): void => {
    if (weak > 0) log.warn(`SRS secrets shorter than ${WEAK_SECRET_LENGTH} characters can be guessed from the addresses they sign; put a longer one first`, { file, weak });
  };
  warnWeak(loaded.weak);

  const decide = (address: string, mailFrom: string, nowMs: number): SrsRecipient => {
    const r = srsReverse(split(address).local, { secrets, maxAgeDays, nowMs });
    if (r.kind !== 'ok') return { kind: 'refused', reason: r.kind };
    // RFC 5321 §4.5.5: bounces come from the null sender. Anything else to an SRS address is someone using a
    // captured address to mail the original sender through us.
    if (cfg.bounces_only && mailFrom !== '') return { kind: 'refused', reason: 'not-bounce' };
    return r;
  };

  return {
    domain,
    handles(address) {
      const { local, domain: d } = split(address);
      return d === domain && isSrsLocalPart(local);
    },
    forwardSender(mailFrom, alias) {
      const r = srsForward(mailFrom, { domain, secret: signing, nowMs: deps.clock.now(), isLocalDomain: isLocal });
      if (r.kind === 'rewritten') {
        forwards.inc({ result: r.scheme.toLowerCase() });
        log.info('forwarded sender rewritten', { alias, from: mailFrom, to: r.address });
        return r.address;
      }
      forwards.inc({ result: r.reason.replace('-', '_') });
      if (r.reason === 'too-long' || r.reason === 'unsupported') log.warn('forwarded sender left as it is: no SRS address can carry it', { alias, from: mailFrom, reason: r.reason });
      return mailFrom;
    },
    checkRecipient(address, mailFrom) {
      const r = decide(address, mailFrom, deps.clock.now());
      reverses.inc({ result: r.kind === 'ok' ? r.scheme.toLowerCase() : r.reason.replace('-', '_') });
      if (r.kind === 'ok') log.info('SRS address accepted', { rcpt: address, to: r.address });
      else log.info('SRS address refused', { rcpt: address, from: mailFrom, reason: r.reason });
      return r;
    },
    reverse: (address, mailFrom, acceptedAtMs) => decide(address, mailFrom, acceptedAtMs),
    reloadSecrets() {
      let next: ReturnType<typeof loadSrsSecrets>;
      try {
        // the file named at start (srs.secret_file itself needs a restart); it exists by now, so nothing is made
        next = loadSrsSecrets(deps.dataDir, file);
      } catch (err) {
        log.error('SRS secrets not reloaded, keeping the running ones', { file, error: (err as Error).message });
        return;
      }
      if (next.secrets.join('\n') === secrets.join('\n')) return;
      secrets = next.secrets;
      signing = secrets[0] ?? '';
      log.info('SRS secrets reloaded', { file, secrets: secrets.length });
      warnWeak(next.weak);
    },
  };
}
