// The delivery scheduler: workers take due messages from the spool, route their pending recipients,
// retry 4xx with exponential backoff, fail 5xx per recipient, expire, warn, bounce, report success
// where the sender asked (RFC 3461 NOTIFY), and remove.
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { loggedReply, storedReply } from '../util/reply-text.ts';
import { processControlRequests, type QuarantineControl } from './control.ts';
import type { DsnRecipient } from './dsn.ts';
import { createDsnNotices } from './dsn-notices.ts';
import { createQueueMetrics } from './queue-metrics.ts';
import type { RecipientOutcome, Router } from './router.ts';
import { ID_PATTERN, initialState, type DeliveryState } from './spool-format.ts';
import type { Spool, SpoolEntry } from './spool.ts';

export type QueueConfig = Config['queue'];

export interface SchedulerOptions {
  spool: Spool;
  router: Router;
  config: QueueConfig;
  clock: Clock;
  registry: Registry;
  log: Logger;
  /** This MTA's name, for DSNs. */
  hostname: string;
  /** DKIM-signs the DSNs it queues. */
  signNotice?: NoticeSigner;
  /** Applies `spamgate quarantine release|delete` requests (they come through the same control directory). */
  quarantine?: QuarantineControl;
}

export interface Scheduler {
  /** Loads the spool and starts delivering. */
  start(): Promise<void>;
  /** Stops taking work and waits for in-flight deliveries, at most deadlineMs. */
  stop(deadlineMs?: number): Promise<void>;
  /** Starts every due delivery and waits until none is in flight (tests drive time with this). */
  runDue(): Promise<void>;
  /** Makes every message (or one) due now. */
  flush(id?: string): void;
  /** Removes a message; one in flight is removed when its attempt ends. */
  remove(id: string): Promise<boolean>;
  /** Puts a message on hold: not tried (nor warned about or expired) until released; one in flight finishes its attempt. */
  hold(id: string): Promise<boolean>;
  /** Takes a message off hold: due at once. */
  release(id: string): Promise<boolean>;
  /** Messages in the queue. */
  size(): number;
}

interface Entry extends SpoolEntry {
  state: DeliveryState;
  inFlight: boolean;
  queued: boolean;
  removeRequested: boolean;
  /** The last save of a hold or release (they are written one after another, never beside an attempt). */
  holdSaved?: Promise<boolean>;
}

export function retryDelay(cfg: QueueConfig, attempts: number): number {
  const exp = cfg.retry_initial * cfg.retry_factor ** Math.max(0, attempts - 1);
  return Math.min(cfg.retry_max, Math.round(exp));
}

export function createScheduler(opts: SchedulerOptions): Scheduler {
  const { spool, router, config: cfg, clock, log } = opts;
  const metrics = createQueueMetrics(opts.registry);
  const entries = new Map<string, Entry>();
  const ready: string[] = [];
  const inflight = new Set<Promise<void>>();
  let running = false;
  let timer: NodeJS.Timeout | undefined;

  const updateGauges = (): void => {
    metrics.depth.set(entries.size);
    // a message on hold waits for a person, not for delivery: it is counted apart and does not age the queue
    let oldest = Infinity;
    let held = 0;
    for (const e of entries.values()) {
      if (e.state.held) held++;
      else oldest = Math.min(oldest, e.envelope.receivedAt);
    }
    metrics.held.set(held);
    metrics.oldest.set(oldest === Infinity ? 0 : Math.max(0, (clock.now() - oldest) / 1000));
  };

  const add = (e: SpoolEntry): void => {
    const entry: Entry = { ...e, state: e.state ?? initialState(e.envelope), inFlight: false, queued: false, removeRequested: false };
    entries.set(e.id, entry);
    metrics.depth.set(entries.size);
  };

  const enqueueReady = (entry: Entry): void => {
    if (entry.queued || entry.inFlight || entry.state.held) return;
    entry.queued = true;
    ready.push(entry.id);
  };

  const scanDue = (): void => {
    const now = clock.now();
    let due = 0;
    for (const e of entries.values()) {
      if (e.inFlight || e.state.held || e.state.nextAttemptAt > now) continue;
      due++;
      if (!e.queued) enqueueReady(e);
    }
    metrics.due.set(due);
  };

  const pump = (): void => {
    // Bounded by the ready list and the number of workers.
    while (running && inflight.size < cfg.workers && ready.length) {
      const id = ready.shift() as string;
      const entry = entries.get(id);
      if (!entry) continue;
      entry.queued = false;
      if (entry.state.held) continue;
      entry.inFlight = true;
      const p: Promise<void> = attempt(entry)
        .catch((err: unknown) => {
          // A crashed attempt (spool write failed…) backs off like a deferral: never a hot loop, never a drop.
          entry.state.nextAttemptAt = clock.now() + retryDelay(cfg, Math.max(1, entry.state.attempts));
          log.error('delivery attempt crashed', { id, err });
        })
        .finally(() => {
          entry.inFlight = false;
          inflight.delete(p);
          // put on hold during the attempt: an attempt that ended without saving its state must not lose the hold
          if (entry.state.held && entries.has(entry.id)) void saveHold(entry);
          pump();
        });
      inflight.add(p);
    }
  };

  /**
   * Saves a hold or release after the one before it, with the state as it is then: a release saved while the save
   * of a hold is under way lands last, and a stale copy never lands over the state of a later attempt.
   */
  const saveHold = (entry: Entry): Promise<boolean> => {
    const saved = (entry.holdSaved ?? Promise.resolve(true))
      .then(() => spool.saveState(entry.id, entry.state))
      .then(
        () => true,
        (err: unknown) => {
          log.error('queue hold/release not saved: it lasts until a restart', { id: entry.id, err });
          return false;
        },
      );
    entry.holdSaved = saved;
    return saved;
  };

  const notices = createDsnNotices({ sink: spool, hostname: opts.hostname, clock, log, registry: opts.registry, returnFullMaxBytes: cfg.return_full_max_size, ...(opts.signNotice ? { sign: opts.signNotice } : {}) });
  /** Queues a notice; false when the spool would not take it (disk full…): the caller keeps what it owes. */
  const sendDsn = async (entry: Entry, kind: 'failure' | 'delay' | 'success', recipients: DsnRecipient[], message: Buffer): Promise<boolean> => {
    try {
      await notices.send({ kind, queueId: entry.id, envelope: entry.envelope, recipients, original: message, expiresAt: entry.envelope.receivedAt + cfg.max_age });
      return true;
    } catch (err) {
      log.error('could not queue a delivery status notification; will try again', { id: entry.id, kind, err });
      return false;
    }
  };

  const attempt = async (entry: Entry): Promise<void> => {
    // a hold or release still being written would otherwise land over this attempt's state
    if (entry.holdSaved) await entry.holdSaved;
    const { id, envelope, state } = entry;
    let message: Buffer;
    try {
      message = (await spool.read(id)).message;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        log.warn('queued message vanished, dropping it', { id, err });
        entries.delete(id);
        metrics.depth.set(entries.size);
        return;
      }
      // EMFILE, EIO, …: the file is still there; forgetting it would strand it until a restart.
      state.nextAttemptAt = clock.now() + retryDelay(cfg, Math.max(1, state.attempts));
      log.error('queued message unreadable, will retry', { id, err, next: new Date(state.nextAttemptAt).toISOString() });
      return;
    }
    const pending = Object.entries(state.recipients).filter(([, r]) => r.status === 'pending').map(([r]) => r);
    // The attempt's start decides expiry: the mail host judges an alias by the time it delivers it (mailhost-setup.ts),
    // so an attempt that began before max_age and ended after it (a slow MX) is followed by one more, not expired.
    const started = clock.now();
    const outcomes = pending.length && !entry.removeRequested ? await router.route({ id, envelope, recipients: pending, message }) : new Map<string, RecipientOutcome>();
    const now = clock.now();
    state.attempts++;
    state.lastAttemptAt = now;
    const succeeded: DsnRecipient[] = [];
    for (const rcpt of pending) {
      const o = outcomes.get(rcpt);
      if (!o) continue;
      const r = state.recipients[rcpt];
      if (!r) continue;
      metrics.attempts.inc({ result: o.status === 'delivered' ? 'delivered' : o.status === 'perm' ? 'failed' : 'deferred', destination: o.destination });
      // the reply is the remote's (up to about a megabyte): kept in the state file and quoted in notices, so bounded
      r.reply = storedReply(o.reply);
      r.destination = o.destination;
      if (o.remoteMta) r.remoteMta = o.remoteMta;
      if (o.status === 'delivered') {
        r.status = 'delivered';
        if (o.successAction) succeeded.push({ recipient: rcpt, action: o.successAction, reply: r.reply, ...(o.remoteMta ? { remoteMta: o.remoteMta } : {}) });
      } else if (o.status === 'perm') r.status = 'failed';
      else state.lastError = loggedReply(o.reply);
    }
    // RFC 3461 §5.2.2, §5.2.3: NOTIFY=SUCCESS gets "delivered" / "relayed" / "expanded" (filtered by NOTIFY there).
    await sendDsn(entry, 'success', succeeded, message);
    // RFC 5321 §4.5.4.1: give up after the maximum queue lifetime; the sender must be told.
    const expired = started - envelope.receivedAt >= cfg.max_age;
    if (expired) {
      for (const r of Object.values(state.recipients)) {
        if (r.status !== 'pending') continue;
        r.status = 'failed';
        const last = r.reply ? loggedReply(r.reply) : 'no attempt succeeded';
        r.reply = { code: r.reply && r.reply.code >= 400 ? r.reply.code : 451, enhanced: '4.4.7', text: `message expired after ${lifetimeText(cfg.max_age)} in queue; last error: ${last}` };
        // RFC 3464 §2.3.5: Remote-MTA names the MTA whose reply the Diagnostic-Code is; this one is ours
        // (the remote's last reply is quoted in its text)
        delete r.remoteMta;
      }
    }
    const newlyFailed = Object.entries(state.recipients).filter(([, r]) => r.status === 'failed' && !r.reported);
    if (newlyFailed.length) {
      // Recipients with NOTIFY=NEVER or without FAILURE are marked reported but left out of the notice.
      const queued = await sendDsn(entry, 'failure', newlyFailed.map(([recipient, r]) => ({ recipient, action: 'failed', reply: r.reply ?? { code: 550, text: 'failed' }, ...(r.remoteMta ? { remoteMta: r.remoteMta } : {}) })), message);
      // RFC 5321 §6.1: the sender must hear of the failure; until the notice is queued the message stays.
      if (queued) for (const [, r] of newlyFailed) r.reported = true;
    }
    const stillPending = Object.entries(state.recipients).filter(([, r]) => r.status === 'pending');
    const owesNotice = Object.values(state.recipients).some((r) => r.status === 'failed' && !r.reported);
    if ((!stillPending.length && !owesNotice) || entry.removeRequested) {
      await spool.remove(id);
      entries.delete(id);
      // The oldest age is recomputed on each scan (O(n)); per message only the depth changes.
      metrics.depth.set(entries.size);
      const failures = failureReasons(state);
      const relays = remoteHandOvers(state);
      log.info(entry.removeRequested ? 'message removed' : 'message done', { id, attempts: state.attempts, recipients: summarize(state), ...(relays ? { relays } : {}), ...(failures ? { failures } : {}) });
      return;
    }
    if (stillPending.length && !state.delayWarned && cfg.delay_warning > 0 && now - envelope.receivedAt >= cfg.delay_warning) {
      state.delayWarned = await sendDsn(entry, 'delay', stillPending.map(([recipient, r]) => ({ recipient, action: 'delayed', reply: r.reply ?? { code: 451, text: 'not yet delivered' }, ...(r.remoteMta ? { remoteMta: r.remoteMta } : {}) })), message);
    }
    // After max_age only an unqueued failure notice keeps the message: it is retried on the same backoff.
    state.nextAttemptAt = stillPending.length ? Math.min(now + retryDelay(cfg, state.attempts), envelope.receivedAt + cfg.max_age) : now + retryDelay(cfg, state.attempts);
    await spool.saveState(id, state);
    log.info('message deferred', { id, attempts: state.attempts, next: new Date(state.nextAttemptAt).toISOString(), error: state.lastError });
  };

  const tick = async (): Promise<void> => {
    timer = undefined;
    if (!running) return;
    try {
      const handlers = { flush: (id?: string) => api.flush(id), remove: (id: string) => api.remove(id), hold: (id: string) => api.hold(id), release: (id: string) => api.release(id) };
      await processControlRequests(spool.paths, { ...handlers, ...(opts.quarantine ? { quarantine: opts.quarantine } : {}) }, log);
    } catch (err) {
      log.warn('queue control requests failed', { err });
    }
    scanDue();
    pump();
    updateGauges();
    schedule();
  };

  const schedule = (): void => {
    if (!running || timer) return;
    timer = setTimeout(() => void tick(), cfg.scan_interval);
    timer.unref();
  };

  const api: Scheduler = {
    async start() {
      // Listen before loading: the listeners accept mail while load() reads the spool, and a message
      // committed after load() listed the directory would otherwise wait for the next restart.
      spool.onEnqueue((e) => {
        add(e);
        const entry = entries.get(e.id);
        // Fresh mail goes out at once, not at the next scan.
        if (entry) enqueueReady(entry);
        pump();
      });
      for (const e of await spool.load()) if (!entries.has(e.id)) add(e);
      running = true;
      updateGauges();
      log.info('queue started', { messages: entries.size, workers: cfg.workers });
      await tick();
    },
    async stop(deadlineMs = 10_000) {
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...inflight]), new Promise<void>((r) => (deadline = setTimeout(r, deadlineMs)))]);
      clearTimeout(deadline);
      if (inflight.size) log.warn('queue stopped with deliveries still in flight', { inFlight: inflight.size });
    },
    async runDue() {
      scanDue();
      pump();
      // Bounded: each round waits for the current deliveries; bounces they queue are picked up next round.
      for (let round = 0; round < 100 && inflight.size; round++) await Promise.allSettled([...inflight]);
      updateGauges();
    },
    flush(id) {
      for (const e of entries.values()) {
        if ((id !== undefined && e.id !== id) || e.state.held) continue; // a flush does not release
        e.state.nextAttemptAt = 0;
        enqueueReady(e);
      }
      pump();
    },
    async remove(id) {
      const e = entries.get(id);
      if (!e) {
        // A file this instance never loaded (put back from spool/corrupt, say): `queue remove` still removes it.
        if (!ID_PATTERN.test(id) || !(await spool.has(id))) return false;
        await spool.remove(id);
        log.info('message removed', { id, loaded: false });
        return true;
      }
      if (e.inFlight) {
        e.removeRequested = true;
        return true;
      }
      entries.delete(id);
      const i = ready.indexOf(id);
      if (i >= 0) ready.splice(i, 1);
      await spool.remove(id);
      updateGauges();
      log.info('message removed', { id });
      return true;
    },
    async hold(id) {
      const e = entries.get(id);
      if (!e) return false;
      if (!e.state.held) {
        e.state.held = true;
        const i = ready.indexOf(id);
        if (i >= 0) ready.splice(i, 1);
        e.queued = false;
        // in flight: the attempt saves its state when it ends (hold included)
        if (!e.inFlight) await saveHold(e);
        log.info('message put on hold', { id, in_flight: e.inFlight });
      }
      updateGauges();
      return true;
    },
    async release(id) {
      const e = entries.get(id);
      if (!e) return false;
      if (e.state.held) {
        delete e.state.held;
        e.state.nextAttemptAt = 0;
        if (!e.inFlight) await saveHold(e);
        log.info('message released from hold', { id });
      }
      enqueueReady(e);
      pump();
      updateGauges();
      return true;
    },
    size: () => entries.size,
  };
  return api;
}

function summarize(state: DeliveryState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [r, s] of Object.entries(state.recipients)) out[r] = s.status;
  return out;
}

/** queue.max_age for the expiry notice, in the largest unit that states it exactly (5d, 36h, 90m, 70s). */
export function lifetimeText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  // below a second, or not a whole number of seconds (max_age: 1500ms): as many milliseconds, not rounded
  return ms === 0 ? '0s' : `${ms}ms`;
}

/**
 * The next hop that took each recipient handed on (an MX, relay or upstream) and its reply, as Postfix's
 * `relay=` and `(250 … queued as …)`, so a message can be traced to the other side; undefined if none.
 */
function remoteHandOvers(state: DeliveryState): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [r, s] of Object.entries(state.recipients)) {
    if (s.status === 'delivered' && s.remoteMta && s.reply) out[r] = `${s.remoteMta}: ${loggedReply(s.reply)}`;
  }
  return Object.keys(out).length ? out : undefined;
}

/** Why each failed recipient failed (the reply it got), for the log line that ends a message; undefined if none failed. */
function failureReasons(state: DeliveryState): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [r, s] of Object.entries(state.recipients)) {
    if (s.status === 'failed') out[r] = s.reply ? loggedReply(s.reply) : 'failed';
  }
  return Object.keys(out).length ? out : undefined;
}
