// Builds the full-stack mail host from config: user directory, Maildir store, local delivery (with
// alias expansion, users' Sieve scripts and verdict routing), POP3, IMAP and ManageSieve servers, and POP/IMAP-before-SMTP.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Learner } from '../bayes/learner.ts';
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { ForwardSealer } from './arc-forward.ts';
import type { Config } from '../config/schema.ts';
import { createImapServer } from '../imap/server.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import { startManageSieve } from '../managesieve/setup.ts';
import { createPop3Server } from '../pop3/server.ts';
import { inheritedRequest } from '../queue/dsn-policy.ts';
import { createDsnNotices, type DsnNotices } from '../queue/dsn-notices.ts';
import { LRUCache } from 'lru-cache';
import type { DeliverLocal, LocalDeliveryOutcome } from '../queue/router.ts';
import { lifetimeText } from '../queue/scheduler.ts';
import type { SpoolProgress } from '../queue/spool-progress.ts';
import type { MessageSink, NextHopReply, QueueEnvelope } from '../queue/types.ts';
import { createMaildirStore } from '../store/maildir-store.ts';
import type { MailboxStore } from '../store/mailbox-store.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { loggedReply } from '../util/reply-text.ts';
import { createUserDirectory, type UserDirectory } from './directory.ts';
import { mailRoot } from './mail-root.ts';
import { createLocalDelivery, hasDeliveredTo, withDeliveredTo } from './local-delivery.ts';
import { createMailboxDelivery } from './mailbox-delivery.ts';
import { judgedSpam } from './sieve-reject.ts';
import { createSieveFiltering } from './sieve-delivery.ts';
import { createSieveDuplicateStore } from './sieve-duplicates.ts';
import { createSieveScripts } from './sieve-scripts.ts';
import { PopBeforeSmtp } from './pop-before-smtp.ts';
import { openSrs, type Srs } from './srs-setup.ts';
import { createVacation } from './vacation-setup.ts';
import { bindAs } from '../util/bind-error.ts';

export interface MailHostDeps {
  config: Config;
  dataDir: string;
  clock: Clock;
  log: Logger;
  registry: Registry;
  hostname: string;
  /** Filter learning for Junk-folder moves (IMAP). */
  learner?: Learner;
  /** The config file, named in problems with its users and aliases sections. */
  configFile?: string;
  /** The running config's local_domains (a reload changes them); default: config's. */
  localDomains?: () => readonly string[];
}

export interface MailHost {
  directory: UserDirectory;
  store: MailboxStore;
  popBeforeSmtp?: PopBeforeSmtp;
  /** Sender rewriting for alias forwards and the SRS addresses bounces come back to (full-stack mode, srs.enabled). */
  srs?: Srs;
  /**
   * Queue router hook: expands aliases and delivers into Maildir; remote alias targets re-enter the queue (with an
   * SRS sender), and so does mail to an SRS address, to the sender it stands for. Out-of-office replies go
   * to `sink` too, signed by `sign`. `progress`: the spool's durable record of what each queued message's delivery
   * has done, so that a retry after a restart gives no mailbox a second copy and sends no notice or redirect again.
   */
  deliverLocal(sink: MessageSink, sign?: NoticeSigner, seal?: ForwardSealer, progress?: SpoolProgress): DeliverLocal;
  start(): Promise<Partial<Record<'pop3' | 'pop3s' | 'imap' | 'imaps' | 'managesieve', AddressInfo>>>;
  /**
   * Reads the POP3 and IMAP certificate files again (a reload: certificates renewed in place) and gives them
   * to the servers for new handshakes. A file that cannot be read keeps the running certificate (logged).
   */
  reloadTls(): void;
  close(): Promise<void>;
}

export { mailRoot };

function readTlsFiles(tls: { cert?: string; key?: string }, fallback: { cert?: string; key?: string }): { cert: Buffer; key: Buffer } | undefined {
  const cert = tls.cert ?? fallback.cert;
  const key = tls.key ?? fallback.key;
  return cert && key ? { cert: readFileSync(cert), key: readFileSync(key) } : undefined;
}

/**
 * A recipient at the SRS domain (a bounce of a forwarded copy): a new queue entry to the address it stands for,
 * the envelope sender kept (`<>` for a bounce), like a remote alias member. Checked at RCPT; checked again here
 * at the time of acceptance, for mail that did not pass RCPT (our own notices about a forwarded copy).
 */
async function returnToSender(sink: MessageSink, srs: Srs, envelope: QueueEnvelope, recipient: string, raw: Buffer, now: number): Promise<LocalDeliveryOutcome> {
  const r = srs.reverse(recipient, envelope.mailFrom, envelope.receivedAt);
  if (r.kind !== 'ok') return { status: 'perm', reply: { code: 550, enhanced: '5.1.1', text: `${recipient}: invalid SRS address (${r.reason})` } };
  const back: QueueEnvelope = { ...envelope, rcptTo: [r.address], receivedAt: now };
  delete back.verdict;
  delete back.rcptDsn;
  const inherited = inheritedRequest(envelope, recipient, 1);
  if (inherited) back.rcptDsn = { [r.address]: inherited };
  await sink.enqueue(back, raw);
  return { status: 'ok', successAction: null };
}

/**
 * RFC 3464 §2.3.2: the failure notice names each member that failed as its Final-Recipient; RFC 3461 §5.2.7:
 * the members inherit the alias's NOTIFY and ORCPT (Original-Recipient then names the alias the sender used).
 */
async function notifyFailedMembers(notices: DsnNotices, f: { envelope: QueueEnvelope; alias: string; targets: number; failedMembers: Array<{ member: string; reply: NextHopReply }>; raw: Buffer; queueId: string }): Promise<void> {
  const inherited = inheritedRequest(f.envelope, f.alias, f.targets);
  const envelope: QueueEnvelope = { ...f.envelope, rcptDsn: { ...f.envelope.rcptDsn, ...Object.fromEntries(f.failedMembers.map((m) => [m.member, inherited ?? {}])) } };
  await notices.send({
    kind: 'failure',
    queueId: f.queueId,
    envelope,
    recipients: f.failedMembers.map((m) => ({ recipient: m.member, action: 'failed' as const, reply: { ...m.reply, text: `${m.reply.text} (expanded from <${f.alias}>)` } })),
    original: f.raw,
  });
}

/** The reply of a member given up at queue.max_age, as the queue words it for a recipient (scheduler.ts). */
function expiredReply(last: NextHopReply, maxAgeMs: number): NextHopReply {
  return { code: last.code >= 400 ? last.code : 451, enhanced: '4.4.7', text: `message expired after ${lifetimeText(maxAgeMs)} in queue; last error: ${loggedReply(last)}` };
}

export function openMailHost(deps: MailHostDeps): MailHost {
  const { config, log } = deps;
  const directory = createUserDirectory({ config, dataDir: deps.dataDir, log: log.child({ component: 'users' }), ...(deps.configFile !== undefined ? { configFile: deps.configFile } : {}) });
  const store = createMaildirStore({ root: mailRoot(deps.dataDir), fsync: config.queue.fsync, clock: deps.clock, maxMailboxes: config.mailhost.max_mailboxes, syncReadMax: config.mailhost.sync_read_max });
  // What one delivery has done (copies stored, redirects and member notices queued) is remembered as long as the
  // queue may retry it: an alias one member of which defers is retried up to queue.max_age, at most retry_max apart,
  // and its members that have the message must not get it again (the keys are per queue id: no other message is
  // called a duplicate for longer). The memory is the fast path; the spool's progress record of the message
  // (deliverLocal's `progress`), written after each copy is in its Maildir and each notice, redirect or off-site copy is queued,
  // is what a retry after a restart (or once the memory dropped it) goes by. A crash between a copy's rename into
  // the Maildir and the record's write may still give that one mailbox a second copy: at least once, never lost.
  const deliveryMemoryMs = Math.max(config.mailhost.duplicate_window, config.queue.max_age);
  const local = createLocalDelivery({ store, directory, log: log.child({ component: 'delivery' }), registry: deps.registry, duplicateWindowMs: deliveryMemoryMs, now: () => deps.clock.now() });
  const srs = config.mode === 'full-stack' ? openSrs({ config, ...(deps.localDomains ? { localDomains: deps.localDomains } : {}), dataDir: deps.dataDir, clock: deps.clock, log, registry: deps.registry }) : undefined;
  const vacation = createVacation({ directory, dataDir: deps.dataDir, fsync: config.queue.fsync, clock: deps.clock, log, registry: deps.registry });
  const sieve = createSieveFiltering(createSieveScripts(deps.dataDir), deps.registry, log.child({ component: 'sieve' }), {
    store,
    duplicates: createSieveDuplicateStore(deps.dataDir, config.queue.fsync),
    subaddressDelimiter: () => config.mailhost.subaddress_delimiter,
    hostname: () => config.smtp.hostname ?? os.hostname(),
    now: () => deps.clock.now(),
  });
  // Notices to the sender of mail the filter judged spam that local delivery does not send (backscatter)
  const suppressed = counter(deps.registry, 'spamgate_notices_suppressed_total', 'Local-delivery notices to the sender not sent because the filter judged the message spam (backscatter), by notice (alias_member: members of an alias that failed while others got the message; sieve_reject: a Sieve reject or ereject)', ['notice'] as const);
  for (const notice of ['alias_member', 'sieve_reject']) suppressed.inc({ notice }, 0);
  const mailboxDelivery = createMailboxDelivery({
    spamNoticeSuppressed: () => suppressed.inc({ notice: 'sieve_reject' }),
    local,
    sieve,
    vacation,
    lookup: (user) => directory.lookup(user),
    srs,
    clock: deps.clock,
    log: log.child({ component: 'delivery' }),
    duplicateWindowMs: deliveryMemoryMs,
  });
  const pbs = config.pop3.pop_before_smtp.enabled ? new PopBeforeSmtp({ clock: deps.clock, ttlMs: config.pop3.pop_before_smtp.ttl }) : undefined;
  const closers: Array<() => Promise<void>> = [];
  /** Per TLS-capable server: re-reads its certificate files and hands them over. */
  const tlsReloaders: Array<() => void> = [];
  const reloadingTls = (what: string, files: { cert?: string; key?: string }, update: (tls: { cert: Buffer; key: Buffer }) => void): void => {
    tlsReloaders.push(() => {
      try {
        const tls = readTlsFiles(files, config.smtp.tls);
        if (tls) update(tls);
      } catch (err) {
        log.warn(`${what} certificate could not be read again; the running one stays`, { err });
      }
    });
  };

  // the aliases of a delivery whose failed members were already notified: a retry of the alias (an off-site
  // copy that could not be queued after the notice was) does not notify them again, as redirects go once (after a
  // restart the spool's progress record of the message tells)
  const notified = new LRUCache<string, true>({ max: 50_000, ttl: deliveryMemoryMs, perf: deps.clock });
  const deliverLocal = (sink: MessageSink, sign?: NoticeSigner, seal?: ForwardSealer, progress?: SpoolProgress): DeliverLocal => {
    // failure notices for the members of an alias that failed while others got the message
    const notices = createDsnNotices({ sink, hostname: deps.hostname, clock: deps.clock, log, registry: deps.registry, returnFullMaxBytes: config.queue.return_full_max_size, ...(sign ? { sign } : {}) });
    return async (envelope, recipient, raw, queueId): Promise<LocalDeliveryOutcome> => {
      if (srs?.handles(recipient)) return returnToSender(sink, srs, envelope, recipient, raw, deps.clock.now());
      const resolution = directory.resolve(recipient.includes('@') ? recipient : `${recipient}@${(deps.localDomains?.() ?? config.local_domains)[0] ?? 'localhost'}`);
      if (resolution.kind === 'unknown') return { status: 'perm', reply: { code: 550, enhanced: '5.1.1', text: `${recipient}: user unknown` } };
      if (resolution.kind === 'loop') return { status: 'perm', reply: { code: 550, enhanced: '5.4.6', text: `${recipient}: alias loop (${resolution.detail})` } };
      // the queue routed the recipient here by the local_domains of the attempt's start, and a reload took its domain
      // out of them before its turn: deferred, the next attempt routes it as any other domain's (by MX), never bounced
      if (resolution.kind === 'remote') return { status: 'temp', reply: { code: 451, enhanced: '4.3.0', text: `${recipient}: no longer a local domain (local_domains reloaded): routed again at the next attempt` } };
      // Our own Delivered-To for this address: the message went round (an alias forwarding back to us).
      if (hasDeliveredTo(raw, recipient)) return { status: 'perm', reply: { code: 554, enhanced: '5.4.6', text: `${recipient}: mail forwarding loop (Delivered-To)` } };
      const junk = envelope.verdict?.junkRecipients?.includes(recipient) ?? false;
      let worst: LocalDeliveryOutcome = { status: 'ok' };
      let reached = resolution.remote.length > 0;
      let rejected: LocalDeliveryOutcome | undefined;
      const failedMembers: Array<{ member: string; reply: NextHopReply }> = [];
      const deferredMembers: Array<{ member: string; reply: NextHopReply }> = [];
      // only where a retry can meet steps already done: a recipient of several targets, or (decided by the mailbox
      // delivery) one target whose script does several things; one step retried has nothing done, so plain
      // deliveries write no more than before
      // (a message that has a record already is read whatever this attempt plans: an earlier one may have planned
      // more, as a script edited or a currentdate test since, and done some of it)
      const several = resolution.mailboxes.length + resolution.remote.length > 1 || progress?.hasRecord?.(queueId) === true;
      const record = several ? progress?.of(queueId) : undefined;
      const severalStepsRecord = several ? undefined : progress?.of(queueId);
      for (const mailbox of resolution.mailboxes) {
        const outcome = await mailboxDelivery.deliver(sink, sign, {
          envelope,
          recipient,
          mailbox,
          raw,
          queueId,
          junk,
          ...(seal ? { seal } : {}),
          ...(record ? { record } : {}),
          ...(severalStepsRecord ? { severalStepsRecord } : {}),
        });
        if ('sieveReject' in outcome) {
          rejected ??= { status: 'perm', reply: outcome.reply };
          continue;
        }
        if (outcome.status === 'ok') reached = true;
        if (outcome.status === 'perm') failedMembers.push({ member: mailbox, reply: outcome.reply });
        if (outcome.status === 'temp') deferredMembers.push({ member: mailbox, reply: outcome.reply });
        // A temporary failure of one mailbox retries the recipient (delivered mailboxes are deduplicated).
        if (outcome.status === 'temp' || (outcome.status === 'perm' && worst.status === 'ok')) worst = outcome;
      }
      // RFC 5321 §4.5.4.1: at queue.max_age the queue gives up; when other members have the message (in their
      // mailboxes) or the alias has off-site members (their copy, held back while the alias was retried, goes now:
      // failing the whole alias would drop it though they were never the ones deferring), the members still deferring
      // fail alone, named in the member notice below, rather than the whole alias (the notice would say it failed
      // while others got it). This is the queue's last attempt: it comes due at receivedAt + max_age at the latest
      // (scheduler.ts).
      if (worst.status === 'temp' && reached && deps.clock.now() - envelope.receivedAt >= config.queue.max_age) {
        for (const d of deferredMembers) failedMembers.push({ member: d.member, reply: expiredReply(d.reply, config.queue.max_age) });
        log.info('alias expired for members still deferring; the others have the message', { id: queueId, recipient, expired: deferredMembers.map((d) => d.member) });
        worst = { status: 'perm', reply: failedMembers[0]?.reply ?? worst.reply };
      }
      // A Sieve reject fails the recipient only when no other target of it has the message: a notice saying the
      // alias failed while another member got it would be false (RFC 3461 §5.2.7.3: an expanded alias is delivered)
      if (rejected && worst.status === 'ok') {
        if (reached) log.info('sieve reject of one alias member: no notice, the alias reached its other members', { id: queueId, recipient });
        else worst = rejected;
      }
      const targets = resolution.mailboxes.length + resolution.remote.length;
      if (worst.status === 'perm' && reached && failedMembers.length) {
        // Some members of the alias have the message, some failed for good (a message larger than one member's
        // quota): the alias is delivered and the sender hears of the failed members, each by name, as Postfix
        // reports per expanded member; failing the alias would bounce for all and a retry would change nothing.
        // The notice is queued before any member copy goes off-site: if it cannot be, the alias is retried
        // (the mailboxes that have the message are deduplicated).
        const key = `${queueId}\0${recipient.toLowerCase()}`;
        const step = `notice\0${recipient.toLowerCase()}`;
        // Mail the filter judged spam: the sender is most likely forged, and the notice would be backscatter. The
        // alias is delivered all the same (its other members have the message); the failed members are only logged.
        const spam = judgedSpam(envelope, junk);
        if (!notified.has(key) && !(await record?.has(step))) {
          if (spam) {
            log.info('notice suppressed: message judged spam', { id: queueId, recipient, from: envelope.mailFrom, failed: failedMembers.map((f) => f.member), action: envelope.verdict?.action });
            suppressed.inc({ notice: 'alias_member' });
          } else await notifyFailedMembers(notices, { envelope, alias: recipient, targets, failedMembers, raw, queueId });
          notified.set(key, true);
          // a crash before this write sends the notice again at the retry (at least once)
          await record?.add(step).catch((err: unknown) => log.warn('delivery progress not recorded', { id: queueId, recipient, err }));
        }
        if (!spam) log.info('alias delivered to some members; the sender is told of the others', { id: queueId, recipient, failed: failedMembers.map((f) => f.member) });
        worst = { status: 'ok' };
      }
      const forwardStep = `forward\0${recipient.toLowerCase()}`;
      // queued before a crash that came ahead of the queue's note that the alias is done: not queued again
      if (resolution.remote.length > 0 && worst.status !== 'temp' && !(await record?.has(forwardStep))) {
        // Alias members outside our domains: a new queue entry, so each gets its own retries and bounces.
        // SRS: the copy goes out from our IP, so its sender is rewritten into our domain (SPF) and bounces come back here.
        const mailFrom = srs ? srs.forwardSender(envelope.mailFrom, recipient) : envelope.mailFrom;
        const forwarded: QueueEnvelope = { ...envelope, mailFrom, rcptTo: resolution.remote, receivedAt: deps.clock.now() };
        delete forwarded.verdict;
        // its ARC set (when sealing) holds these results; the copy is no message we received
        delete forwarded.auth;
        // RFC 3461 §5.2.7: ENVID and RET go along; the members inherit the alias's NOTIFY and ORCPT.
        delete forwarded.rcptDsn;
        const inherited = inheritedRequest(envelope, recipient, targets);
        if (inherited) forwarded.rcptDsn = Object.fromEntries(resolution.remote.map((r) => [r, inherited]));
        // RFC 8617 §5.1: the ARC set goes on top, over the Delivered-To of this hop
        const copy = withDeliveredTo(raw, recipient);
        await sink.enqueue(forwarded, seal ? await seal(copy, envelope, recipient) : copy);
        await record?.add(forwardStep).catch((err: unknown) => log.warn('delivery progress not recorded', { id: queueId, recipient, err }));
      }
      if (worst.status !== 'ok') return worst;
      // A success notice says "expanded" for several targets (§5.2.7.3); for one remote target its own delivery reports.
      return { status: 'ok', successAction: targets > 1 ? 'expanded' : resolution.mailboxes.length ? 'delivered' : null };
    };
  };

  return {
    directory,
    store,
    ...(pbs ? { popBeforeSmtp: pbs } : {}),
    ...(srs ? { srs } : {}),
    deliverLocal,
    async start() {
      const out: Partial<Record<'pop3' | 'pop3s' | 'imap' | 'imaps' | 'managesieve', AddressInfo>> = {};
      const onLogin = pbs ? (_user: string, ip: string): void => pbs.record(ip) : undefined;
      if (config.pop3.enabled) {
        const p = config.pop3;
        const tls = readTlsFiles(p.tls, config.smtp.tls);
        const pop3 = createPop3Server({
          store,
          users: directory,
          ...(tls ? { tls } : {}),
          hostname: deps.hostname,
          limits: {
            idleTimeoutMs: p.idle_timeout,
            maxLineLength: p.max_line_length,
            maxBadCommands: p.max_bad_commands,
            maxConnections: p.max_connections,
            maxConnectionsPerIp: p.max_connections_per_ip,
            allowInsecureAuth: p.allow_insecure_auth,
            authFailures: { perIp: p.auth_failures.per_ip, perUser: p.auth_failures.per_user },
            ipv6Prefix: config.limits.ipv6_prefix,
          },
          ...(onLogin ? { onLogin } : {}),
          registry: deps.registry,
          log: log.child({ component: 'pop3' }),
          clock: deps.clock,
        });
        if (tls) reloadingTls('pop3', p.tls, (t) => pop3.updateTls(t));
        // closed at stop whatever happens next: a later listener that cannot bind must not leave this one open
        closers.push(() => pop3.close());
        await bindAs('pop3.listen', pop3.listen(p.listen.port, p.listen.host));
        const addr = pop3.address();
        if (addr) out.pop3 = addr;
        if (p.tls_listen && tls) {
          await bindAs('pop3.tls_listen', pop3.listenTls(p.tls_listen.port, p.tls_listen.host));
          const t = pop3.tlsAddress();
          if (t) out.pop3s = t;
        }
      }
      if (config.imap.enabled) {
        const i = config.imap;
        const tls = readTlsFiles(i.tls, config.smtp.tls);
        const common = {
          store,
          authenticate: (user: string, pass: string) => directory.authenticate(user, pass),
          quotaOf: (user: string) => directory.quotaOf(user),
          ...(onLogin ? { onLogin } : {}),
          ...(deps.learner ? { learner: deps.learner } : {}),
          ...(tls ? { tls } : {}),
          allowInsecureAuth: i.allow_insecure_auth,
          compress: i.compress,
          hostname: deps.hostname,
          limits: {
            maxLineBytes: i.max_line,
            maxLiteralBytes: i.max_literal,
            commandsPerSecond: i.commands_per_second,
            idleTimeoutMs: i.idle_timeout,
            maxAuthFailures: i.max_auth_failures,
            maxAuthFailuresPerUser: i.max_auth_failures_per_user,
            authFailureWindowMs: i.auth_failure_window,
            maxConnections: i.max_connections,
            maxConnectionsPerIp: i.max_connections_per_ip,
            ipv6Prefix: config.limits.ipv6_prefix,
          },
          registry: deps.registry,
          log: log.child({ component: 'imap' }),
          clock: deps.clock,
        };
        const imap = createImapServer({ ...common, implicitTls: false });
        if (tls) reloadingTls('imap', i.tls, (t) => imap.updateTls(t));
        closers.push(() => imap.close());
        await bindAs('imap.listen', imap.listen(i.listen.port, i.listen.host));
        const addr = imap.address();
        if (addr) out.imap = addr;
        if (i.tls_listen && tls) {
          const imaps = createImapServer({ ...common, implicitTls: true });
          reloadingTls('imaps', i.tls, (t) => imaps.updateTls(t));
          closers.push(() => imaps.close());
          await bindAs('imap.tls_listen', imaps.listen(i.tls_listen.port, i.tls_listen.host));
          const a = imaps.address();
          if (a) out.imaps = a;
        }
      }
      if (config.managesieve.enabled) {
        const tls = readTlsFiles(config.managesieve.tls, config.smtp.tls);
        const authenticate = (user: string, pass: string): Promise<string | undefined> => directory.authenticate(user, pass);
        const sieveServer = await startManageSieve({ config, dataDir: deps.dataDir, authenticate, tls, registry: deps.registry, log: log.child({ component: 'managesieve' }), clock: deps.clock });
        if (tls) reloadingTls('managesieve', config.managesieve.tls, (t) => sieveServer.updateTls(t));
        const addr = sieveServer.address();
        if (addr) out.managesieve = addr;
        closers.push(() => sieveServer.close());
      }
      return out;
    },
    reloadTls() {
      for (const reload of tlsReloaders) reload();
    },
    async close() {
      for (const c of closers.reverse()) await c();
      directory.close();
    },
  };
}
