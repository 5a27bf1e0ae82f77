// The context a user's Sieve script runs in at delivery (src/sieve/context.ts): the time, the sub-address
// delimiter, the environment items of RFC 5183 §4 (this host, "MDA", "spamgate", "during", the SMTP client when
// known), the user's mailboxes with their special-use attributes (RFC 5490, RFC 8579) and the duplicate ids
// seen before (RFC 7352). Mailboxes and ids are read only when the script requires an extension that asks, the
// mailboxes as names alone (MailboxStore.mailboxNames: no folder synced at each delivery).
import { readFileSync } from 'node:fs';
import { mailboxList, type SieveContext } from '../sieve/context.ts';
import type { CompiledScript } from '../sieve/script.ts';
import type { MailboxStore } from '../store/mailbox-store.ts';
import type { SieveDuplicateStore } from './sieve-duplicates.ts';

export interface SieveContextDeps {
  store: Pick<MailboxStore, 'mailboxNames'>;
  duplicates: SieveDuplicateStore;
  /** mailhost.subaddress_delimiter. */
  subaddressDelimiter: () => string;
  /** This host's name (smtp.hostname, else the system's). */
  hostname: () => string;
  now: () => number;
}

/** spamgate's version (RFC 5183 §4 "version"), read once; "0" when package.json cannot be read. */
function readVersion(): string {
  try {
    const parsed: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const v = parsed && typeof parsed === 'object' && 'version' in parsed ? parsed.version : undefined;
    return typeof v === 'string' ? v : '0';
  } catch {
    return '0';
  }
}
const VERSION = readVersion();

/** The SMTP client the message came from, as the spool envelope has it. */
export interface SieveClient {
  ip?: string;
  name?: string;
}

/** `deliveryId`: the queue id, so a retry of this delivery does not take the ids its first attempt recorded as seen before. */
export async function sieveContextFor(deps: SieveContextDeps, user: string, script: CompiledScript, client: SieveClient, deliveryId?: string): Promise<SieveContext> {
  const host = deps.hostname().toLowerCase();
  const dot = host.indexOf('.');
  const environment: Record<string, string> = {
    // RFC 5183 §4: the domain is usually a proper suffix of the host name
    domain: dot > 0 ? host.slice(dot + 1) : host,
    host,
    location: 'MDA',
    name: 'spamgate',
    phase: 'during',
    version: VERSION,
    ...(client.ip ? { 'remote-ip': client.ip } : {}),
    ...(client.name && client.name !== '[UNAVAILABLE]' ? { 'remote-host': client.name } : {}),
  };
  const wants = (e: string): boolean => script.extensions.includes(e);
  const mailboxes = wants('mailbox') || wants('special-use') ? await deps.store.mailboxNames(user).catch(() => []) : [];
  return {
    nowMs: deps.now(),
    subaddressDelimiter: deps.subaddressDelimiter(),
    environment,
    // INBOX always exists (RFC 3501 §5.1), listed or not (a Maildir not made yet, a listing that failed)
    mailboxes: mailboxList(mailboxes.some((m) => m.name === 'INBOX') ? mailboxes : [{ name: 'INBOX' }, ...mailboxes]),
    duplicates: wants('duplicate') ? await deps.duplicates.load(user, deliveryId) : { seen: () => false },
  };
}
