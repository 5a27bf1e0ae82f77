// Final delivery into a local mailbox: Return-Path and Delivered-To on top, INBOX or Junk (or the folder a Sieve
// script chose, made if missing), quota, one copy per mailbox.
import { LRUCache } from 'lru-cache';
import type { Registry } from 'prom-client';
import { counter } from '../metrics/registry.ts';
import { MailboxError, type MailboxStore } from '../store/mailbox-store.ts';
import { KeyedMutex } from '../store/mutex.ts';
import type { Logger } from '../util/logger.ts';
import type { ProgressRecord } from '../queue/spool-progress.ts';

export interface LocalDeliveryRequest {
  /** Reverse path, '' for the null sender. */
  mailFrom: string;
  /** The recipient as given at RCPT (before alias expansion): it becomes Delivered-To. */
  recipient: string;
  /** The mailbox user the recipient expanded to. */
  mailbox: string;
  raw: Buffer;
  /** Verdict routing: true files the message in Junk. */
  junk: boolean;
  /** A folder a Sieve script chose (fileinto): overrides the verdict routing; made if missing. */
  folder?: string;
  /** Flags the stored copy gets (Sieve imap4flags). */
  flags?: readonly string[];
  /**
   * The queue/transaction id. Deliveries with the same id to the same mailbox (many-to-one aliases,
   * `sales@` and `info@` both → alice) are stored once; later ones return `duplicate`.
   */
  deliveryId?: string;
  /**
   * The queued message's durable record of what its delivery has done (spool progress/): a copy it names is a
   * duplicate after a restart too, and each copy stored is written to it before the result is returned.
   */
  record?: ProgressRecord;
}

/** The step a stored copy is recorded as: per mailbox user, and per folder for a copy a script filed. */
export const copyStep = (user: string, folder: string | undefined): string => `copy\0${user}${folder === undefined ? '' : `\0${folder}`}`;

export type LocalDeliveryResult =
  | { kind: 'delivered'; user: string; folder: string; uid: number }
  | { kind: 'duplicate'; user: string }
  /**
   * Caller replies 452 4.2.2 (temporary: the user may make room), or 552 5.2.3 when the message (`size`, as
   * stored) is larger than the whole quota: no room the user makes can take it.
   */
  | { kind: 'over-quota'; user: string; usage: number; quota: number; size?: number }
  /** The user vanished between RCPT and delivery: 550 5.1.1. */
  | { kind: 'no-such-user'; user: string }
  /** This message already passed through this recipient (Delivered-To present): 554 5.4.6. */
  | { kind: 'loop'; user: string }
  /** The folder a script chose cannot be made (an invalid name, too many folders): the caller keeps the message instead. */
  | { kind: 'bad-folder'; user: string; folder: string; reason: string }
  /** Store trouble: 451 4.3.0 (452 4.3.1 when the disk is full), retried by the queue. */
  | { kind: 'failed'; user: string; reason: string; noSpace?: boolean };

export interface LocalDeliveryDirectory {
  lookup(user: string): { name: string } | undefined;
  quotaOf(user: string): number | undefined;
}

export interface LocalDeliveryOptions {
  store: MailboxStore;
  directory: LocalDeliveryDirectory;
  log: Logger;
  registry: Registry;
  /** How long a delivery id is remembered for duplicate suppression, ms. */
  duplicateWindowMs?: number;
  /** The time duplicate suppression counts by (the mail host's clock; performance.now() when not given). */
  now?: () => number;
}

export interface LocalDelivery {
  deliverLocal(req: LocalDeliveryRequest): Promise<LocalDeliveryResult>;
}

/** The SMTP reply a delivery result maps to (for inline delivery and DSNs). */
export function replyForDelivery(result: LocalDeliveryResult): { code: number; enhanced: string; text: string } {
  switch (result.kind) {
    case 'delivered':
    case 'duplicate':
      return { code: 250, enhanced: '2.0.0', text: 'delivered' };
    case 'over-quota':
      // RFC 3463 §3.3: X.2.3, message length exceeds administrative limit, useful only as a permanent error
      if (result.size !== undefined && result.quota >= 0 && result.size > result.quota) return { code: 552, enhanced: '5.2.3', text: 'message larger than the mailbox quota' };
      return { code: 452, enhanced: '4.2.2', text: 'mailbox full' };
    case 'no-such-user':
      return { code: 550, enhanced: '5.1.1', text: 'no such user' };
    case 'loop':
      return { code: 554, enhanced: '5.4.6', text: 'mail loop detected (Delivered-To)' };
    case 'bad-folder':
      return { code: 451, enhanced: '4.3.0', text: 'local delivery failed, try again later' };
    case 'failed':
      // RFC 3463 §3.4: 4.3.1, mail system full
      if (result.noSpace) return { code: 452, enhanced: '4.3.1', text: 'insufficient system storage for the mailbox, try again later' };
      return { code: 451, enhanced: '4.3.0', text: 'local delivery failed, try again later' };
  }
}

export function createLocalDelivery(opts: LocalDeliveryOptions): LocalDelivery {
  const { store, directory, log } = opts;
  const deliveries = counter(
    opts.registry,
    'spamgate_local_deliveries_total',
    'Local deliveries by result (delivered_inbox, delivered_junk, delivered_folder: another folder a Sieve script chose; duplicate, over_quota, no_such_user, loop, bad_folder, failed).',
    ['result'],
  );
  const bytes = counter(opts.registry, 'spamgate_local_delivery_bytes_total', 'Bytes stored by local delivery.');
  // Per delivery id and mailbox: resolves true once that copy is stored, false if storing it failed.
  const seen = new LRUCache<string, Promise<boolean>>({ max: 50_000, ttl: opts.duplicateWindowMs ?? 3_600_000, ...(opts.now ? { perf: { now: opts.now } } : {}) });
  const ensured = new Set<string>();

  // Quota check and append of one user run one at a time, or concurrent deliveries all pass the check.
  const perUser = new KeyedMutex();

  /** Quota check and append; a mailbox removed since it was set up is set up again (once). */
  const storeCopy = async (user: string, folder: string, message: Buffer, flags: readonly string[], chosen: boolean): Promise<{ uid: number } | { usage: number; quota: number }> => {
    // Bounded: a second pass only when a mailbox we had set up has gone (ENOENT) and was set up again.
    for (let pass = 0; ; pass++) {
      const fresh = !ensured.has(user);
      if (fresh) {
        await store.ensureUser(user);
        ensured.add(user);
      }
      const quota = directory.quotaOf(user);
      if (quota !== undefined) {
        const usage = await store.usage(user);
        if (usage + message.length > quota) return { usage, quota };
      }
      try {
        return { uid: (await store.append(user, folder, message, flags.length ? { flags } : undefined)).uid };
      } catch (err) {
        // A folder a script files into is made when missing, as Dovecot's lda_mailbox_autocreate does (and
        // subscribed, so that mail clients show it); bounded by mailhost.max_mailboxes (MailboxError LIMIT).
        if (chosen && pass === 0 && err instanceof MailboxError && err.code === 'NONEXISTENT') {
          await store.ensureUser(user);
          await store.createMailbox(user, folder).catch((e: unknown) => {
            if (!(e instanceof MailboxError && e.code === 'ALREADYEXISTS')) throw e;
          });
          // subscribing is a courtesy: a full subscription list does not stop the delivery
          await store.setSubscribed(user, folder, true).catch(() => undefined);
          continue;
        }
        // The Maildir was removed or broken after we set it up, or the user deleted the folder (Junk,
        // over IMAP): set it up again next time (or now, once).
        ensured.delete(user);
        const gone = (err as NodeJS.ErrnoException).code === 'ENOENT' || (err instanceof MailboxError && err.code === 'NONEXISTENT');
        if (fresh || pass > 0 || !gone) throw err;
      }
    }
  };

  const count = (r: LocalDeliveryResult): LocalDeliveryResult => {
    const label = r.kind === 'delivered' ? (r.folder === 'INBOX' || r.folder === 'Junk' ? `delivered_${r.folder.toLowerCase()}` : 'delivered_folder') : r.kind.replace(/-/g, '_');
    deliveries.inc({ result: label });
    return r;
  };

  return {
    async deliverLocal(req) {
      const rec = directory.lookup(req.mailbox);
      if (!rec) return count({ kind: 'no-such-user', user: req.mailbox });
      const user = rec.name;
      const recipient = req.recipient.trim().replace(/^<(.*)>$/, '$1');
      if (hasDeliveredTo(req.raw, recipient)) return count({ kind: 'loop', user });
      // a copy a script filed into a folder of its choice is one copy per folder
      const dupKey = req.deliveryId === undefined ? undefined : `${req.deliveryId}\0${user}${req.folder === undefined ? '' : `\0${req.folder}`}`;
      // A copy of the same delivery still being stored is waited for: only a stored one makes this one
      // a duplicate (were it taken as done at once, a failure of the first would leave this recipient
      // marked delivered). Bounded: each round waits for one earlier copy.
      const step = copyStep(user, req.folder);
      for (let round = 0; dupKey !== undefined && round < 3; round++) {
        const earlier = seen.get(dupKey);
        if (earlier === undefined) break;
        if (await earlier) {
          // the copy may be another recipient's, one that keeps no record (the member addressed directly): recorded
          // here too, or a retry of this alias after a restart would store it again
          if (req.record) await req.record.add(step).catch((err: unknown) => log.warn('delivery progress not recorded', { user, err }));
          return count({ kind: 'duplicate', user });
        }
      }
      // Reserved before any await, so a concurrent copy of the same delivery waits for this one.
      let settle: (stored: boolean) => void = () => undefined;
      const mine = new Promise<boolean>((resolve) => (settle = resolve));
      if (dupKey !== undefined) seen.set(dupKey, mine);
      let stored = false;
      const message = withTraceHeaders(req.raw, req.mailFrom, recipient);
      try {
        // the spool's record outlives a restart (the memory above does not)
        if (dupKey !== undefined && req.record && (await req.record.has(step))) {
          stored = true;
          return count({ kind: 'duplicate', user });
        }
        const folder = req.folder ?? (req.junk ? 'Junk' : 'INBOX');
        const put = await perUser.run(user, () => storeCopy(user, folder, message, req.flags ?? [], req.folder !== undefined));
        if ('quota' in put) return count({ kind: 'over-quota', user, usage: put.usage, quota: put.quota, size: message.length });
        const uid = put.uid;
        stored = true;
        bytes.inc(message.length);
        // Recorded once the copy is in the Maildir (renamed into new/), before the next step: a crash between the
        // two gives this mailbox a second copy at the retry (at least once, never lost). A record that cannot be
        // written leaves the memory alone to tell (a restart then forgets the copy).
        if (dupKey !== undefined && req.record) await req.record.add(step).catch((err: unknown) => log.warn('delivery progress not recorded', { user, err }));
        log.debug('delivered locally', { user, folder, uid, size: message.length });
        return count({ kind: 'delivered', user, folder, uid });
      } catch (err) {
        if (err instanceof MailboxError && err.code === 'OVERQUOTA') {
          return count({ kind: 'over-quota', user, usage: -1, quota: directory.quotaOf(user) ?? -1 });
        }
        if (req.folder !== undefined && err instanceof MailboxError && (err.code === 'INVALID' || err.code === 'LIMIT' || err.code === 'NOPERM' || err.code === 'NONEXISTENT')) {
          return count({ kind: 'bad-folder', user, folder: req.folder, reason: err.message });
        }
        log.error('local delivery failed', { user, err });
        const code = (err as NodeJS.ErrnoException).code;
        return count({ kind: 'failed', user, reason: (err as Error).message, ...(code === 'ENOSPC' || code === 'EDQUOT' ? { noSpace: true } : {}) });
      } finally {
        if (!stored && dupKey !== undefined && seen.get(dupKey) === mine) seen.delete(dupKey);
        settle(stored);
      }
    },
  };
}

/** RFC 5321 §4.4: the final delivery adds Return-Path; Delivered-To marks the hop so loops can be seen. */
export function withTraceHeaders(raw: Buffer, mailFrom: string, recipient: string): Buffer {
  const eol = lineEnding(raw);
  const head = `Return-Path: <${mailFrom.replace(/[\r\n<>]/g, '')}>${eol}Delivered-To: ${recipient.replace(/[\r\n]/g, '')}${eol}`;
  return Buffer.concat([Buffer.from(head, 'utf8'), raw]);
}

/** The copy an alias forwards off-site: Delivered-To marks the alias, so the copy is known if it comes back. */
export function withDeliveredTo(raw: Buffer, recipient: string): Buffer {
  return Buffer.concat([Buffer.from(`Delivered-To: ${recipient.replace(/[\r\n]/g, '')}${lineEnding(raw)}`, 'utf8'), raw]);
}

function lineEnding(raw: Buffer): string {
  const firstLf = raw.indexOf(0x0a);
  return firstLf > 0 && raw[firstLf - 1] !== 0x0d ? '\n' : '\r\n';
}

/** True if the header section already has `Delivered-To: <recipient>` (case-insensitive). */
export function hasDeliveredTo(raw: Buffer, recipient: string): boolean {
  let end = raw.indexOf('\r\n\r\n');
  if (end < 0) end = raw.indexOf('\n\n');
  const header = raw.subarray(0, end < 0 ? Math.min(raw.length, 65_536) : end).toString('latin1');
  const want = recipient.toLowerCase();
  const re = /^delivered-to:[ \t]*(.*?)[ \t]*\r?$/gim;
  for (let m = re.exec(header), n = 0; m !== null && n < 1000; m = re.exec(header), n++) {
    if ((m[1] ?? '').replace(/^<(.*)>$/, '$1').toLowerCase() === want) return true;
  }
  return false;
}
