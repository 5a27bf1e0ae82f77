// Rules that span config sections (a key valid alone but not with another), run on the parsed config:
// what `serve` would otherwise refuse at start, or silently leave out, reported with the key path.
import { isIPv4 } from 'node:net';
import type { z } from 'zod';

interface TlsPair {
  cert?: string | undefined;
  key?: string | undefined;
}

/** The slice of the parsed config these rules read. */
export interface CrossCheckInput {
  mode: 'full-stack' | 'front-of';
  local_domains: readonly string[];
  delivery: { upstream?: unknown; verify_recipients: { enabled: boolean; timeout: number } };
  smtp: { listen: Listen; tls: TlsPair };
  submission: { enabled: boolean; listen: Listen; tls_listen?: Listen | undefined };
  http: { enabled: boolean; listen: Listen };
  pop3: { enabled: boolean; listen: Listen; tls_listen?: Listen | undefined; tls: TlsPair };
  imap: { enabled: boolean; listen: Listen; tls_listen?: Listen | undefined; tls: TlsPair };
  managesieve: { enabled: boolean; listen: Listen };
  checks: { timeout: number };
  redis: { timeout: number; use_for: readonly string[] };
  greylist: { enabled: boolean; timeout: number };
  srs: { enabled: boolean; domain?: string | undefined };
  batv: { enabled: boolean; domains?: readonly string[] | undefined };
  outbound: { relay?: unknown; routes?: Record<string, unknown> | undefined; tls_reports: { enabled: boolean }; dane: 'off' | 'on' };
  dkim: { sign: ReadonlyArray<{ domain: string }> };
  arc: { seal: boolean; seal_domain?: string | undefined };
  dns: { servers?: readonly string[] | undefined };
}

/** A dns.servers entry ("ip", "ip:port", "[ipv6]:port") naming a loopback address. */
export function isLoopbackEntry(entry: string): boolean {
  const host = entry.trim().replace(/^\[([^\]]+)\](?::\d+)?$/, '$1').replace(/^([^:]+):\d+$/, '$1');
  return isIPv4(host) ? host.startsWith('127.') : host === '::1';
}

interface Listen {
  host: string;
  port: number;
}

export function crossChecks(config: CrossCheckInput, ctx: z.core.$RefinementCtx<CrossCheckInput>): void {
  if (config.mode === 'front-of' && config.delivery.upstream === undefined) {
    ctx.addIssue({ code: 'custom', path: ['delivery', 'upstream'], message: 'front-of mode needs delivery.upstream (host, port) to hand mail to' });
  }
  // the scripts ManageSieve manages are run by local delivery, which front-of mode does not do
  if (config.mode === 'front-of' && config.managesieve.enabled) {
    ctx.addIssue({ code: 'custom', path: ['managesieve', 'enabled'], message: 'ManageSieve manages the Sieve scripts of local delivery: full-stack mode only' });
  }
  if (config.mode === 'full-stack' && config.local_domains.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['local_domains'], message: 'full-stack mode needs at least one local domain' });
  }
  for (const name of ['pop3', 'imap'] as const) {
    const section = config[name];
    // POP3 and IMAP fall back to smtp.tls (README: "also the default for POP3/IMAP").
    const hasCert = (section.tls.cert ?? config.smtp.tls.cert) !== undefined;
    if (section.enabled && section.tls_listen !== undefined && !hasCert) {
      ctx.addIssue({ code: 'custom', path: [name, 'tls_listen'], message: `an implicit-TLS listener needs ${name}.tls.cert and ${name}.tls.key (or smtp.tls)` });
    }
  }
  if (config.submission.enabled && config.submission.tls_listen !== undefined && config.smtp.tls.cert === undefined) {
    ctx.addIssue({ code: 'custom', path: ['submission', 'tls_listen'], message: 'an implicit-TLS listener needs smtp.tls.cert and smtp.tls.key' });
  }
  // ARC seals are made with a DKIM key (RFC 8617 §4.1.3): a named sealing domain must have one.
  const sealDomain = config.arc.seal_domain;
  if (sealDomain !== undefined && !config.dkim.sign.some((k) => k.domain === sealDomain)) {
    ctx.addIssue({ code: 'custom', path: ['arc', 'seal_domain'], message: `${sealDomain} has no key in dkim.sign: ARC seals are made with a DKIM signing key` });
  }
  if (config.arc.seal && config.dkim.sign.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['arc', 'seal'], message: 'ARC sealing needs a key in dkim.sign (the forwarding domain\'s, or arc.seal_domain\'s)' });
  }
  // Bounces to signed senders come back to the signed domain: it must be one spamgate receives mail for.
  if (config.batv.enabled) {
    config.batv.domains?.forEach((d, i) => {
      if (!config.local_domains.includes(d)) ctx.addIssue({ code: 'custom', path: ['batv', 'domains', i], message: `${d} is not in local_domains: bounces to its signed senders must come back to spamgate to be checked and have their tag removed` });
    });
  }
  // Bounces to SRS addresses must reach us and pass relay control: the SRS domain is one of ours.
  const srsDomain = config.srs.domain;
  if (config.mode === 'full-stack' && config.srs.enabled && srsDomain !== undefined && !config.local_domains.includes(srsDomain)) {
    ctx.addIssue({ code: 'custom', path: ['srs', 'domain'], message: `${srsDomain} is not in local_domains: bounces to SRS addresses must be mail for a domain spamgate receives` });
  }
  // Front-of mode hands everything to delivery.upstream: a relay there would be silently unused.
  for (const key of ['relay', 'routes'] as const) {
    if (config.mode === 'front-of' && config.outbound[key] !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['outbound', key], message: `front-of mode hands all mail to delivery.upstream; outbound.${key} is for full-stack mode` });
    }
  }
  // TLS reports count the TLS sessions of MX delivery, which front-of mode does not do: the key would be silently unused.
  if (config.mode === 'front-of' && config.outbound.tls_reports.enabled) {
    ctx.addIssue({ code: 'custom', path: ['outbound', 'tls_reports', 'enabled'], message: 'front-of mode hands all mail to delivery.upstream and makes no TLS sessions of its own to report on; outbound.tls_reports.enabled is for full-stack mode' });
  }
  // A route for a local domain would never be used: mail for it is delivered here.
  for (const domain of Object.keys(config.outbound.routes ?? {})) {
    if (config.mode === 'full-stack' && config.local_domains.includes(domain)) {
      ctx.addIssue({ code: 'custom', path: ['outbound', 'routes', domain], message: `${domain} is in local_domains: its mail is delivered here, never through a route` });
    }
  }
  // RFC 7672 §2.1.3 (stub resolvers): the AD bit is trusted only from a validating resolver reached over a
  // path nobody can tamper with; spamgate asks it without TSIG or DoT, so it must be on this host.
  if (config.outbound.dane === 'on') {
    const remote = (config.dns.servers ?? []).filter((entry) => !isLoopbackEntry(entry));
    if (remote.length) {
      ctx.addIssue({ code: 'custom', path: ['outbound', 'dane'], message: `DANE trusts the AD bit of dns.servers, which must then be a DNSSEC-validating resolver on this host (127.0.0.1, ::1); found ${remote.join(', ')}` });
    }
  }
  sharedPorts(config, ctx);
  redisWithinBudgets(config, ctx);
  const verify = config.delivery.verify_recipients;
  if (verify.enabled && config.mode !== 'front-of') {
    ctx.addIssue({ code: 'custom', path: ['delivery', 'verify_recipients', 'enabled'], message: 'recipient verification asks the upstream of front-of mode; full-stack mode knows its users itself' });
  }
  // A probe that outlives the check's budget ends as CHECK_TIMEOUT (weight 0): on_error: tempfail would not hold.
  if (verify.enabled && verify.timeout >= config.checks.timeout) {
    ctx.addIssue({ code: 'custom', path: ['delivery', 'verify_recipients', 'timeout'], message: `must be below checks.timeout (${config.checks.timeout} ms), the budget the probe runs in` });
  }
}

/**
 * A Redis call must give up (and the check apply redis.on_error) before the check's own budget runs out:
 * otherwise a slow Redis makes the check time out, CHECK_TIMEOUT weighs 0, and on_error: tempfail fails
 * open. The greylist check has greylist.timeout; the rate limits and Bayes have checks.timeout.
 */
function redisWithinBudgets(config: CrossCheckInput, ctx: z.core.$RefinementCtx<CrossCheckInput>): void {
  const uses = new Set(config.redis.use_for);
  const budgets: [string, number, boolean][] = [
    ['greylist.timeout', config.greylist.timeout, uses.has('greylist') && config.greylist.enabled],
    ['checks.timeout', config.checks.timeout, uses.has('rate') || uses.has('bayes')],
  ];
  for (const [key, budget, applies] of budgets) {
    if (applies && config.redis.timeout >= budget) {
      ctx.addIssue({
        code: 'custom',
        path: ['redis', 'timeout'],
        message: `must be below ${key} (${budget} ms), or a slow Redis makes the check time out, which lets mail through even with redis.on_error: tempfail`,
      });
    }
  }
}

/** Two enabled listeners on one fixed port and host would fail at start with EADDRINUSE. */
function sharedPorts(config: CrossCheckInput, ctx: z.core.$RefinementCtx<CrossCheckInput>): void {
  const listeners: [string[], Listen | undefined][] = [
    [['smtp', 'listen'], config.smtp.listen],
    [['submission', 'listen'], config.submission.enabled ? config.submission.listen : undefined],
    [['submission', 'tls_listen'], config.submission.enabled ? config.submission.tls_listen : undefined],
    [['http', 'listen'], config.http.enabled ? config.http.listen : undefined],
    [['pop3', 'listen'], config.pop3.enabled ? config.pop3.listen : undefined],
    [['pop3', 'tls_listen'], config.pop3.enabled ? config.pop3.tls_listen : undefined],
    [['imap', 'listen'], config.imap.enabled ? config.imap.listen : undefined],
    [['imap', 'tls_listen'], config.imap.enabled ? config.imap.tls_listen : undefined],
    [['managesieve', 'listen'], config.managesieve.enabled ? config.managesieve.listen : undefined],
  ];
  const seen: { host: string; port: number; keyPath: string[] }[] = [];
  for (const [keyPath, l] of listeners) {
    if (!l || l.port === 0) continue;
    const clash = seen.find((s) => s.port === l.port && overlaps(s.host, l.host));
    if (!clash) {
      seen.push({ host: l.host, port: l.port, keyPath });
      continue;
    }
    // One of the two may be a default the file never wrote: the report goes to the one it did write.
    const other: AlternativeIssue = { path: [...clash.keyPath, 'port'], message: `port ${l.port} is already used by ${keyPath.join('.')}` };
    ctx.addIssue({ code: 'custom', path: [...keyPath, 'port'], message: `port ${l.port} is already used by ${clash.keyPath.join('.')}`, params: { alternative: other } });
  }
}

/**
 * The same problem told from another key (`params.alternative` of a custom issue): reported there when
 * the issue's own key is not in the file (a default) and this one is.
 */
export interface AlternativeIssue {
  path: string[];
  message: string;
}

/** Same address, or a wildcard covering the other ("::" is dual-stack on Linux; "0.0.0.0" covers IPv4). */
function overlaps(a: string, b: string): boolean {
  if (a === b || a === '::' || b === '::') return true;
  return (a === '0.0.0.0' && isIPv4(b)) || (b === '0.0.0.0' && isIPv4(a));
}
