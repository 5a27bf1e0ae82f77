// Digest rounds: for each recipient in local_domains with messages quarantined since their last digest (in full-stack
// mode grouped by mailbox, and none for an address only the catch-all takes; in front-of mode sub-addresses grouped
// on their address: digest-setup.ts), one digest
// (digest-compose.ts) queued on the spool like the other notices (signed by the notice signer, from the null
// reverse path so it never bounces), then the recipient's coverage saved (digest-state.ts). A recipient outside
// local_domains gets none: digests never leave for the world. Rounds run when the schedule says (digest-schedule.ts)
// or at once (`spamgate quarantine digest --now`).
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { DigestConfig } from '../config/sections/quarantine-digest.ts';
import { reportEnvelope } from '../mailhost/report-mail.ts';
import type { Registry } from '../metrics/registry.ts';
import { idTime } from '../queue/spool-format.ts';
import type { MessageSink } from '../queue/types.ts';
import { isLocalDomain, parseAddress } from '../smtp/address.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { composeDigest, digestText, type DigestInput, type DigestItem } from './digest-compose.ts';
import { createDigestMetrics } from './digest-metrics.ts';
import { roundDue } from './digest-schedule.ts';
import { loadDigestState, saveDigestState, type DigestState } from './digest-state.ts';
import { listQuarantineIds, quarantineFile, readQuarantinedHead } from './format.ts';
import type { LinkTokens } from './link-token.ts';
import { senderEntry } from './link-routes.ts';

export interface DigestRunnerOptions {
  dir: string;
  stateFile: string;
  config: DigestConfig;
  maxAgeMs: number;
  /** local_domains, or (a running instance) the running config's: read at each round's recipients, so a reload applies. */
  localDomains: readonly string[] | (() => readonly string[]);
  hostname: string;
  sink: MessageSink;
  sign?: NoticeSigner;
  /**
   * The address a recipient's digest goes to (digestAddressFor in digest-setup.ts: the mailbox in full-stack mode, the
   * address without its sub-address in front-of), undefined for none. Absent: each local recipient gets their own.
   */
  digestAddress?: (recipient: string) => string | undefined;
  /** Signs the links; absent (or no base_url): digests without links. */
  tokens?: LinkTokens;
  /**
   * Full-stack mode with quarantine.digest.list_links: the local user a recipient reaches (as the user_lists check
   * resolves it). Items for such a recipient, with a sender that can be listed, get allow and block links, and a
   * digest to a user a link to their lists page. Absent: no list links.
   */
  listUser?: (recipient: string) => string | undefined;
  /** Messages quarantined before this time are all on disk (Quarantine.settledBefore; the clock's now without one). */
  settledBefore?: () => number;
  clock: Clock;
  registry: Registry;
  log: Logger;
  fsync: boolean;
}

export interface DigestSent {
  recipient: string;
  listed: number;
  more: number;
  queueId: string;
}

export interface DigestRound {
  sent: DigestSent[];
  failed: string[];
  notLocal: string[];
}

export interface DigestRunner {
  /** Runs a round (only when due, unless forced); undefined when none was due. */
  run(force: boolean): Promise<DigestRound | undefined>;
  /** The digests a round would send now (their text part), without queueing or saving anything. */
  preview(): Promise<Array<{ recipient: string; text: string }>>;
  /** Marks the first start, then checks for a due round every minute. */
  start(): void;
  close(): Promise<void>;
}

/** Recipients whose coverage is saved in between, so a crash late in a long round resends little. */
const SAVE_EVERY = 50;
const CHECK_MS = 60_000;

interface Pending {
  address: string;
  /** Each with the recipient it was quarantined for (whose copy its links act on). */
  items: Array<Omit<DigestItem, 'links'> & { recipient: string }>;
}

export async function createDigestRunner(opts: DigestRunnerOptions): Promise<DigestRunner> {
  const { config, log } = opts;
  const state: DigestState = await loadDigestState(opts.stateFile);
  const metrics = createDigestMetrics(opts.registry);
  const given = opts.localDomains;
  let localOf: { from: readonly string[]; set: ReadonlySet<string> } | undefined;
  /** The local domains now (the set made again only when the list it comes from is another one: a reload). */
  const localNow = (): ReadonlySet<string> => {
    const from = typeof given === 'function' ? given() : given;
    if (localOf?.from !== from) localOf = { from, set: new Set(from.map((d) => d.toLowerCase())) };
    return localOf.set;
  };
  const from = config.from ?? `postmaster@${opts.hostname}`;
  const baseUrl = config.base_url?.replace(/\/+$/, '');

  /** Per recipient (lower case), what was quarantined for them in [covered, cutoff); and who is not ours. */
  /** The address's domain is ours, compared as the gateway's relay check compares it (a final dot ignored; no address literal or local-part trick). */
  const isLocalRecipient = (address: string): boolean => {
    const a = parseAddress(address);
    return !a.trick && !a.literal && isLocalDomain(a.domain, localNow());
  };

  const collect = async (cutoff: number, now: number): Promise<{ pending: Map<string, Pending>; notLocal: Set<string> }> => {
    const pending = new Map<string, Pending>();
    const notLocal = new Set<string>();
    for (const id of await listQuarantineIds(opts.dir)) {
      const t = idTime(id);
      if (t >= cutoff) break; // ids sort by time
      const head = await readQuarantinedHead(quarantineFile(opts.dir, id)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') log.warn('quarantined message unreadable, left out of the digests', { id, error: err.message });
        return undefined;
      });
      if (!head) continue;
      const { envelope } = head;
      for (const address of envelope.rcptTo) {
        // undefined: no digest (not ours); coverage is kept per digest address
        const to = !isLocalRecipient(address) ? undefined : opts.digestAddress ? opts.digestAddress(address) : address;
        const key = (to ?? address).toLowerCase();
        if (to === undefined) {
          // counted in the first round after it was quarantined; no state per address (made-up ones can be many)
          const before = state.notLocalBefore ?? 0;
          if (before > now || t >= before) notLocal.add(key);
          continue;
        }
        // coverage in the future: the clock ran ahead when it was saved; all that is held is listed again (a
        // duplicate listing at worst); else nothing held since the clock was set right would be listed for a long time
        const since = state.covered[key] ?? 0;
        if (since <= now && t < since) continue;
        let p = pending.get(key);
        if (!p) pending.set(key, (p = { address: to, items: [] }));
        // two recipients of one message with one mailbox (user+a, user+b): listed once
        if (p.items.at(-1)?.id === id) continue;
        const symbols = [...envelope.quarantine.symbols].filter((s) => s.score > 0).sort((a, b) => b.score - a.score).slice(0, 5).map((s) => s.symbol);
        p.items.push({ id, recipient: address, receivedAt: envelope.receivedAt || t, sender: envelope.mailFrom, subject: envelope.quarantine.subject ?? '', score: envelope.quarantine.score, symbols });
      }
    }
    return { pending, notLocal };
  };

  const digestOf = (p: Pending, now: number): DigestInput => {
    const newest = [...p.items].reverse();
    const shown = newest.slice(0, config.max_items);
    const expires = now + config.link_lifetime;
    const link = (action: string, token: string): string => `${baseUrl ?? ''}/quarantine/${action}?t=${token}`;
    const tokens = baseUrl === undefined ? undefined : opts.tokens;
    const listUser = opts.listUser;
    // each link's token made for its own action: one cannot be replayed as another
    const signed = (action: 'release' | 'delete' | 'allow' | 'block', item: { id: string; recipient: string }): string => link(action, tokens?.sign({ action, id: item.id, recipient: item.recipient, expires }) ?? '');
    const items: DigestItem[] = shown.map((item) => {
      if (!tokens) return item;
      const listed = listUser !== undefined && listUser(item.recipient) !== undefined && senderEntry(item.sender) !== undefined;
      return { ...item, links: { release: signed('release', item), delete: signed('delete', item), ...(listed ? { allow: signed('allow', item), block: signed('block', item) } : {}) } };
    });
    // the lists page of the user this digest goes to (none for an alias of several users)
    const user = tokens && listUser ? listUser(p.address) : undefined;
    const listsLink = tokens && user !== undefined ? link('lists', tokens.sign({ action: 'lists', id: '', recipient: user, expires })) : undefined;
    return { from, to: p.address, hostname: opts.hostname, now, items, more: newest.length - shown.length, maxAgeMs: opts.maxAgeMs, ...(listsLink ? { listsLink } : {}) };
  };

  /** Set by close(): a round under way stops before its next digest. */
  let closed = false;

  const save = (): Promise<void> => saveDigestState(opts.stateFile, state, opts.clock.now() - opts.maxAgeMs, opts.fsync);

  const round = async (): Promise<DigestRound> => {
    const now = opts.clock.now();
    // taken before listing: a message being stored now is older than the cutoff only once it is on disk
    const cutoff = Math.min(now, opts.settledBefore?.() ?? now);
    const { pending, notLocal } = await collect(cutoff, now);
    const out: DigestRound = { sent: [], failed: [], notLocal: [...notLocal] };
    // each address counted once per round, for messages quarantined since the previous one
    if (notLocal.size) metrics.digests.inc({ result: 'not_local' }, notLocal.size);
    state.notLocalBefore = cutoff;
    if (notLocal.size) log.info('quarantine digest: recipients that get none (outside local_domains, or no user or alias of ours)', { recipients: [...notLocal].slice(0, 20), count: notLocal.size });
    let unsaved = 0;
    let stopped = false;
    for (const [key, p] of pending) {
      // shutting down: no more digests; those not sent are not covered, and the round stays due for the next start
      if (closed) {
        stopped = true;
        break;
      }
      try {
        const input = digestOf(p, now);
        const message = composeDigest(input);
        const listed = input.items.length;
        const more = input.more;
        const signed = opts.sign ? await opts.sign(message) : message;
        const ascii = /^[\x20-\x7e]*$/.test(p.address);
        const { id: queueId } = await opts.sink.enqueue(reportEnvelope(p.address, `qdigest-${now.toString(36)}`, now, ascii ? {} : { smtputf8: true }), signed);
        state.covered[key] = cutoff;
        metrics.digests.inc({ result: 'sent' });
        out.sent.push({ recipient: p.address, listed, more, queueId });
        log.info('quarantine digest queued', { to: p.address, queue_id: queueId, listed, more });
        if (++unsaved >= SAVE_EVERY) {
          await save();
          unsaved = 0;
        }
      } catch (err) {
        // coverage not moved: the next round lists these messages again
        metrics.digests.inc({ result: 'failed' });
        out.failed.push(p.address);
        log.error('quarantine digest could not be queued', { to: p.address, err });
      }
    }
    if (!stopped) state.lastRound = now;
    await save();
    return out;
  };

  let running: Promise<DigestRound | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let firstSave: Promise<void> | undefined;
  const run = (force: boolean): Promise<DigestRound | undefined> => {
    const go = async (): Promise<DigestRound | undefined> => {
      if (closed) return undefined;
      if (!force && !roundDue(state.lastRound, opts.clock.now(), config.at, config.interval)) return undefined;
      return round();
    };
    // one round at a time: a forced one asked for during a round runs after it
    const next = (running ?? Promise.resolve(undefined)).catch(() => undefined).then(go);
    running = next.finally(() => {
      if (running === next) running = undefined;
    });
    return next;
  };
  const tick = (): void => {
    run(false).catch((err: unknown) => log.error('quarantine digest round failed', { err }));
  };

  return {
    run,
    async preview() {
      const now = opts.clock.now();
      const { pending } = await collect(Math.min(now, opts.settledBefore?.() ?? now), now);
      return [...pending.values()].map((p) => ({ recipient: p.address, text: digestText(digestOf(p, now)) }));
    },
    start() {
      if (closed || timer) return;
      // the first start with digests on: the first round is the next slot (not everything at once, now)
      if (state.lastRound === undefined) {
        state.lastRound = opts.clock.now();
        firstSave = save().catch((err: unknown) => log.error('quarantine digest state not saved', { err }));
      }
      tick();
      timer = setInterval(tick, Math.min(CHECK_MS, config.interval));
      timer.unref();
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await firstSave;
      await running?.catch(() => undefined);
    },
  };
}
