// The whole configuration schema: every key, its type and its embedded default (full-stack, localhost).
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { cidrList, domain, domainOrSubdomains, duration, host, listen, nameServer, oneLine, rateRule, size, timer, tlsFiles, tlsListen } from './units.ts';
import { crossChecks } from './cross-checks.ts';
import { DISABLEABLE_CHECKS, POLICY_CHECKS } from '../checks/names.ts';
import { imapSection } from './sections/imap.ts';
import { bayesSection, filterSection } from './sections/filter.ts';
import { aliasesSection, mailhostSection, usersSection } from './sections/mailhost.ts';
import { managesieveSection } from './sections/managesieve.ts';
import { pop3Section } from './sections/pop3.ts';
import { greylistSection, redisSection } from './sections/redis.ts';
import { fuzzySection } from './sections/fuzzy.ts';
import { reputationSection } from './sections/reputation.ts';
import { arcSection } from './sections/arc.ts';
import { dkimSection } from './sections/dkim.ts';
import { srsSection } from './sections/srs.ts';
import { batvSection } from './sections/batv.ts';
import { relaySection } from './sections/relay.ts';
import { quarantineSection } from './sections/quarantine.ts';
import { dmarcReportsSection } from './sections/dmarc-reports.ts';
import { antivirusSection } from './sections/antivirus.ts';
import { milterSection } from './sections/milter.ts';
import { spamdSection } from './sections/spamd.ts';

const rate = rateRule();

const smtp = z
  .strictObject({
    listen: listen('127.0.0.1', 2525),
    hostname: host().optional(),
    banner: z.string().default('spamgate'),
    // 0 (or a few bytes) would pass here and then refuse every message; beyond 1g, RAM is the limit.
    max_message_size: size()
      .prefault(26_214_400)
      .refine((n) => n >= 512 && n <= 1024 ** 3, { message: 'expected a size from 512 bytes to 1g' }),
    max_recipients: z.number().int().positive().default(100),
    /** RFC 5321 §6.3: a message with this many Received fields is taken for a loop (554 5.4.6); at least 100 is advised. */
    max_hops: z.number().int().min(10).default(100),
    max_connections: z.number().int().positive().default(500),
    max_connections_per_ip: z.number().int().positive().default(20),
    max_bad_commands: z.number().int().positive().default(10),
    max_transactions_per_session: z.number().int().positive().default(100),
    idle_timeout: timer().prefault(300),
    session_timeout: timer().prefault(1800),
    greet_delay: timer(true).prefault(0),
    trusted_networks: cidrList().default(['127.0.0.0/8', '::1/128']),
    proxy_protocol_from: cidrList().default([]),
    xclient_from: cidrList().default([]),
    relay_requires_local_sender: z.boolean().default(false),
    tls: tlsFiles('smtp.tls'),
    auth: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Failed AUTH attempts before 454 4.7.0, shared by the MX and submission listeners. */
        failures: z
          .strictObject({
            per_ip: rate.prefault({ limit: 10, window: '15m' }),
            per_user: rate.prefault({ limit: 5, window: '15m' }),
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .prefault({});

const submission = z
  .strictObject({
    enabled: z.boolean().default(true),
    listen: listen('127.0.0.1', 2587),
    /** RFC 8314 §3.3: submission over implicit TLS (port 465 in production), with smtp.tls's certificate. */
    tls_listen: tlsListen(),
  })
  .prefault({});

const limits = z
  .strictObject({
    per_ip: z
      .strictObject({
        connections: rate.optional(),
        messages: rate.optional(),
        recipients: rate.optional(),
      })
      .prefault({}),
    per_user: z
      .strictObject({
        messages: rate.optional(),
        recipients: rate.optional(),
      })
      .prefault({}),
    /** An IPv6 client counts as its network of this size in the per-address limits (one subnet is one client). */
    ipv6_prefix: z.number().int().min(32).max(128).default(64),
  })
  .prefault({});

const upstream = z.strictObject({
  host: host(),
  port: z.number().int().min(1).max(65535).default(25),
  protocol: z.enum(['smtp', 'lmtp']).default('smtp'),
  max_connections: z.number().int().positive().default(10),
  timeout: timer().prefault(60),
  /**
   * RFC 5321 §4.5.3.2.6: the reply to the end of the data gets 10 minutes. Giving up sooner while the upstream
   * still works on the message (a content filter, a milter: minutes) defers a message it then accepts, and
   * every retry delivers it again.
   */
  data_timeout: timer().prefault('10m'),
  starttls: z.boolean().default(false),
  /**
   * Verify the upstream's certificate (with starttls): against tls_ca, or the system's roots without it, for the
   * name tls_server_name, or host. A certificate that does not verify fails the connection: mail stays queued.
   */
  tls_verify: z.boolean().default(false),
  /** PEM bundle of the CA(s) that issue the upstream's certificate (a private CA), in place of the system's roots. */
  tls_ca: z.string().min(1).optional(),
  /** Name the certificate must carry (and SNI) when host is an address or an internal alias. */
  tls_server_name: host().optional(),
  /** Tell the upstream the original client with XFORWARD, when it offers it (to clients it authorizes for it). */
  xforward: z.boolean().default(false),
}).superRefine((u, ctx) => {
  // Certificate settings without STARTTLS would be silently unused: the admin believes the hop is verified.
  for (const key of ['tls_verify', 'tls_ca', 'tls_server_name'] as const) {
    if (u[key] !== undefined && u[key] !== false && !u.starttls) ctx.addIssue({ code: 'custom', path: [key], message: 'takes effect only with starttls: true' });
  }
  if (!u.tls_verify && (u.tls_ca !== undefined || u.tls_server_name !== undefined)) {
    ctx.addIssue({ code: 'custom', path: [u.tls_ca !== undefined ? 'tls_ca' : 'tls_server_name'], message: 'is used to verify the certificate: set tls_verify: true as well' });
  }
});

/**
 * Front-of mode: ask the upstream at RCPT whether it takes a local-domain recipient (a probe, cached), so mail
 * for users it does not know is refused at once instead of accepted and bounced to a forged sender.
 */
const verifyRecipients = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** The whole probe (connect, greeting, EHLO, MAIL, RCPT); below checks.timeout (cross-checked). */
    timeout: timer().prefault('3s'),
    positive_ttl: timer().prefault('7d'),
    negative_ttl: timer().prefault('1h'),
    cache_size: z.number().int().positive().max(1_000_000).default(100_000),
    /** Probes at once; beyond this a recipient is handled as when the upstream cannot answer (on_error). */
    max_concurrent: z.number().int().positive().max(1000).default(10),
    /** The upstream cannot answer (down, slow, 4xx): accept the recipient (the queue keeps the mail) or answer 450. */
    on_error: z.enum(['accept', 'tempfail']).default('accept'),
  })
  .prefault({});

const delivery = z
  .strictObject({
    mode: z.enum(['queue', 'inline']).default('queue'),
    upstream: upstream.optional(),
    verify_recipients: verifyRecipients,
  })
  .prefault({});

const queue = z
  .strictObject({
    max_age: duration().prefault('5d'),
    delay_warning: duration().prefault('4h'),
    retry_initial: timer().prefault('1m'),
    retry_max: timer().prefault('1h'),
    retry_factor: z.number().min(1).default(2),
    /** Concurrent deliveries; each holds a connection and a message, so thousands are a typo. */
    workers: z.number().int().positive().max(1000).default(20),
    scan_interval: timer().prefault('1s'),
    fsync: z.boolean().default(true),
    /** RET=FULL failure notices return the message whole up to this size, else its headers (RFC 3461 §4.3). */
    return_full_max_size: size().prefault(10 * 1024 * 1024),
    /**
     * Free space kept on the spool's file system (Postfix's queue_minfree): MAIL gets 452 4.3.1 when less than this
     * plus 1.5 × the message's SIZE (or smtp.max_message_size) is free. 0 turns the check off.
     */
    min_free: size().prefault(100 * 1024 * 1024),
  })
  .prefault({});

const outbound = z
  .strictObject({
    /** Port of remote MX hosts (25; tests use a high port). */
    port: z.number().int().min(1).max(65535).default(25),
    family: z.enum(['any', 'ipv4', 'ipv6']).default('any'),
    starttls: z.enum(['opportunistic', 'never', 'require']).default('opportunistic'),
    tls_verify: z.boolean().default(false),
    connect_timeout: timer().prefault('30s'),
    command_timeout: timer().prefault('5m'),
    max_connections_per_destination: z.number().int().positive().default(4),
    idle_timeout: timer().prefault('10s'),
    max_messages_per_connection: z.number().int().positive().default(100),
    max_mx_hosts: z.number().int().positive().default(5),
    helo_name: host().optional(),
    /**
     * The local addresses outbound connections leave from (Postfix's smtp_bind_address / _address6): on a host with
     * several, the one whose PTR and SPF the world knows. Unset: the system's choice.
     */
    source_address: z.string().refine((a) => isIPv4(a), { message: 'expected an IPv4 address of this host' }).optional(),
    source_address_v6: z.string().refine((a) => isIPv6(a), { message: 'expected an IPv6 address of this host' }).optional(),
    /** MTA-STS (RFC 8461): recipient domains' published policies are fetched, cached and applied. */
    mta_sts: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** The whole policy fetch (address look-up, HTTPS, body); RFC 8461 §3.3 suggests 60 s. */
        timeout: timer().prefault('60s'),
        /** Domains whose policies are kept (in memory and in the data directory). */
        cache_size: z.number().int().positive().max(1_000_000).default(10_000),
      })
      .prefault({}),
    /**
     * DANE for MX delivery (RFC 7672), as Postfix's smtp_tls_security_level = dane: TLSA records of MX hosts whose
     * DNS answers the resolver authenticated (AD bit) require TLS with a matching certificate. Off by default: it
     * trusts the AD bit of the configured name servers, so they must be a DNSSEC-validating resolver on this host.
     */
    dane: z.enum(['off', 'on']).default('off'),
    /**
     * SMTP TLS Reporting (RFC 8460): TLS sessions of MX delivery counted per recipient domain and UTC day, and a daily
     * report sent to each domain that publishes a TLSRPT record. Off by default: reports are mail (and HTTPS posts)
     * about every domain mail goes to, and RFC 8460 §5.3 has receivers ignore mailed reports without a DKIM signature
     * of the submitter's domain, so it is turned on with a DKIM key for that domain in place.
     */
    tls_reports: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** RFC 8460 §4.4 organization-name (default: the submitter). */
        organization_name: oneLine(200).optional(),
        /** RFC 8460 §4.4 contact-info: an address or URI (default: postmaster@ the submitter). */
        contact_info: oneLine(200).optional(),
        /** The reporting domain (TLS-Report-Submitter, the From domain; default: the host name). */
        submitter: domain().optional(),
      })
      .prefault({}),
    /** All remote mail to this relay host (with SMTP AUTH) instead of the MX hosts: no MX lookup, no MTA-STS. */
    relay: relaySection.optional(),
    /** Mail for these recipient domains to their own relay host (settings as relay's), before relay and MX. */
    routes: z.record(domainOrSubdomains(), relaySection).optional(),
  })
  .superRefine((o, ctx) => {
    if (!o.relay) return;
    // MX-only settings changed from their defaults would be silently unused once every message goes to the relay.
    const mxOnly: [string[], boolean, string][] = [
      [['port'], o.port !== 25, 'relay.port'],
      [['starttls'], o.starttls !== 'opportunistic', 'relay.tls'],
      [['tls_verify'], o.tls_verify, 'relay.tls_verify'],
      [['max_mx_hosts'], o.max_mx_hosts !== 5, ''],
      [['mta_sts', 'timeout'], o.mta_sts.timeout !== 60_000, ''],
      [['mta_sts', 'cache_size'], o.mta_sts.cache_size !== 10_000, ''],
      [['dane'], o.dane !== 'off', ''],
      [['tls_reports', 'enabled'], o.tls_reports.enabled, ''],
    ];
    for (const [at, changed, instead] of mxOnly) {
      if (changed) ctx.addIssue({ code: 'custom', path: at, message: `applies to MX delivery only, and with outbound.relay all remote mail goes to the relay${instead ? `: set outbound.${instead}` : ''}` });
    }
  })
  .prefault({});

const http = z
  .strictObject({
    enabled: z.boolean().default(true),
    listen: listen('127.0.0.1', 9465),
    /** Client addresses served; any other connection is closed before it takes a slot (default: all). */
    allow: cidrList().default(['0.0.0.0/0', '::/0']),
  })
  .prefault({});

/**
 * checks.disabled: filtering checks only. Relay control, recipient verification and rate limits are
 * policy; a config that could turn them off would make an open relay with check-config saying ok.
 */
const checkNames = () =>
  z.array(z.string()).superRefine((names, ctx) => {
    const allowed = `the checks that can be disabled: ${DISABLEABLE_CHECKS.join(', ')}`;
    names.forEach((name, i) => {
      if ((DISABLEABLE_CHECKS as readonly string[]).includes(name)) return;
      const why = (POLICY_CHECKS as readonly string[]).includes(name)
        ? `found ${JSON.stringify(name)}, which is not a filter and cannot be disabled (relay control, recipient verification and rate limits always run)`
        : `found ${JSON.stringify(name)}, which is no check`;
      ctx.addIssue({ code: 'custom', path: [i], message: `${why}; ${allowed}` });
    });
  });

const checks = z
  .strictObject({
    timeout: timer().prefault('5s'),
    disabled: checkNames().default([]),
  })
  .prefault({});

const dns = z
  .strictObject({
    servers: z.array(nameServer()).min(1, { message: 'expected at least one name server (leave dns.servers out to use /etc/resolv.conf)' }).optional(),
    timeout: timer().prefault('2s'),
    retries: z.number().int().min(0).max(5).default(1),
    cache_size: z.number().int().positive().max(1_000_000).default(10_000),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    mode: z.enum(['full-stack', 'front-of']).default('full-stack'),
    data_dir: z.string().default('./data'),
    rules_dirs: z.array(z.string()).optional(),
    log_level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    local_domains: z.array(domain()).default(['localhost']),
    smtp,
    submission,
    limits,
    delivery,
    queue,
    quarantine: quarantineSection,
    outbound,
    dkim: dkimSection,
    arc: arcSection,
    dmarc_reports: dmarcReportsSection,
    http,
    checks,
    dns,
    filter: filterSection,
    antivirus: antivirusSection,
    bayes: bayesSection,
    users: usersSection,
    aliases: aliasesSection,
    mailhost: mailhostSection,
    srs: srsSection,
    batv: batvSection,
    pop3: pop3Section,
    imap: imapSection,
    managesieve: managesieveSection,
    redis: redisSection,
    greylist: greylistSection,
    fuzzy: fuzzySection,
    reputation: reputationSection,
    milter: milterSection,
    spamd: spamdSection,
  })
  .superRefine(crossChecks);

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
