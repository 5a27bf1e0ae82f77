// TLS report counters (RFC 8460 §4): per UTC day, recipient policy domain and policy, the successful TLS sessions
// and the failed ones by result type and hosts; bounded (domains a day, policies a domain, detail rows a policy)
// and saved in the data directory (atomic write, mode 0600) at most once a minute and at close, so a restart keeps
// the day. An unreadable file is logged and the counters start empty.
import { z } from 'zod';
import { removeDeadTempsSync, writeFileAtomic } from '../util/atomic-file.ts';
import { readBounded } from '../util/read-bounded.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';

/** RFC 8460 §4.3 result types spamgate reports (no DANE: tlsa-invalid, dnssec-invalid, dane-required are not produced). */
export const RESULT_TYPES = [
  'starttls-not-supported',
  'certificate-host-mismatch',
  'certificate-expired',
  'certificate-not-trusted',
  'validation-failure',
  'sts-policy-fetch-error',
  'sts-policy-invalid',
  'sts-webpki-invalid',
] as const;
export type ResultType = (typeof RESULT_TYPES)[number];

/** RFC 8460 §4.4 policy: an MTA-STS policy (its lines and mx patterns) or none found. */
export type ReportPolicy = { type: 'sts'; lines: string[]; mx: string[] } | { type: 'no-policy-found' };

export interface FailureDetail {
  resultType: ResultType;
  sendingMtaIp?: string;
  receivingMxHostname?: string;
  receivingIp?: string;
  /** node's error code (CERT_HAS_EXPIRED, …): RFC 8460 §4.4 failure-reason-code. */
  reasonCode?: string;
}

/** One TLS session attempt to a domain's MX (or a policy failure before any), at `at` (epoch ms). */
export type SessionEvent = { domain: string; policy: ReportPolicy; at: number } & ({ ok: true } | { ok: false; failure: FailureDetail });

export interface PolicyCounts {
  policy: ReportPolicy;
  success: number;
  failure: number;
  details: Array<FailureDetail & { count: number }>;
}

export interface StoreLimits {
  domainsPerDay: number;
  policiesPerDomain: number;
  detailsPerPolicy: number;
}

export const DEFAULT_LIMITS: StoreLimits = { domainsPerDay: 10_000, policiesPerDomain: 4, detailsPerPolicy: 50 };
/** Days kept at most (today, yesterday waiting for its report, one more whose reports were not all sent). */
const MAX_DAYS = 3;
const SAVE_EVERY_MS = 60_000;
const FILE_VERSION = 1;

export interface TlsReportStore {
  record(e: SessionEvent): void;
  /** Days with data, oldest first (YYYY-MM-DD). */
  days(): string[];
  /** The domains of a day and their policies' counts. */
  domainsOf(day: string): Map<string, PolicyCounts[]>;
  /** Forgets a domain's counts of a day (its report went, or will not). */
  drop(day: string, domain: string): void;
  /** Writes the counters now if they changed; resolves when written. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The UTC day (YYYY-MM-DD) of an instant. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

const text = z.string().min(1).max(255);
const detailSchema = z.strictObject({
  resultType: z.enum(RESULT_TYPES),
  sendingMtaIp: text.optional(),
  receivingMxHostname: text.optional(),
  receivingIp: text.optional(),
  reasonCode: z.string().min(1).max(64).optional(),
  count: z.number().int().min(1),
});
/** A policy as outbound records it: its mx patterns are capped (MAX_REPORT_MX, tlsrpt-session.ts), so 30 lines hold any. */
const policySchema = z.union([z.strictObject({ type: z.literal('sts'), lines: z.array(z.string().max(300)).max(30), mx: z.array(text).max(30) }), z.strictObject({ type: z.literal('no-policy-found') })]);
const countsSchema = z.strictObject({ policy: policySchema, success: z.number().int().min(0), failure: z.number().int().min(0), details: z.array(detailSchema) });
const fileSchema = z.strictObject({
  version: z.literal(FILE_VERSION),
  days: z.record(z.string().regex(/^\d{4}-\d{2}-\d{2}$/), z.record(z.string().min(1).max(253), z.array(countsSchema))),
});

const policyKey = (p: ReportPolicy): string => JSON.stringify(p);
const detailKey = (d: FailureDetail): string => [d.resultType, d.sendingMtaIp, d.receivingMxHostname, d.receivingIp, d.reasonCode].join('|');

export interface StoreOptions {
  /** The state file; memory only without one. */
  file?: string;
  limits?: Partial<StoreLimits>;
  clock: Clock;
  log: Logger;
  /** How often changed counters are written (SAVE_EVERY_MS); 0: only at flush and close. */
  saveEveryMs?: number;
}

export function createTlsReportStore(opts: StoreOptions): TlsReportStore {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const days = new Map<string, Map<string, PolicyCounts[]>>();
  let dirty = false;
  let writing: Promise<void> | undefined;

  const load = (file: string): void => {
    removeDeadTempsSync(file);
    let parsed: z.infer<typeof fileSchema>;
    try {
      // full days: every domain with its policies (at most 30 lines and 30 mx patterns of 300 bytes) and detail rows
      const max = MAX_DAYS * limits.domainsPerDay * limits.policiesPerDomain * (18_000 + limits.detailsPerPolicy * 400) + 1024;
      const buf = readBounded(file, max + 1);
      if (buf.length > max) throw new Error(`larger than ${max} bytes`);
      parsed = fileSchema.parse(JSON.parse(buf.toString('utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      opts.log.warn('TLS report counters unreadable: starting empty', { file, err: err instanceof z.ZodError ? z.prettifyError(err) : err });
      return;
    }
    for (const day of Object.keys(parsed.days).sort().slice(-MAX_DAYS)) {
      const domains = new Map<string, PolicyCounts[]>();
      for (const [domain, list] of Object.entries(parsed.days[day] ?? {})) {
        if (domains.size >= limits.domainsPerDay) break;
        domains.set(domain, list.slice(0, limits.policiesPerDomain).map((c) => ({ ...c, details: c.details.slice(0, limits.detailsPerPolicy) })));
      }
      days.set(day, domains);
    }
  };

  const write = (): Promise<void> => {
    const file = opts.file;
    if (!file || !dirty) return writing ?? Promise.resolve();
    writing ??= (async () => {
      while (dirty) {
        dirty = false;
        const body = JSON.stringify({ version: FILE_VERSION, days: Object.fromEntries([...days].map(([d, m]) => [d, Object.fromEntries(m)])) });
        try {
          await writeFileAtomic(file, body, { mode: 0o600 });
        } catch (err) {
          opts.log.warn('TLS report counters not saved', { file, err });
        }
      }
    })().finally(() => (writing = undefined));
    return writing;
  };

  if (opts.file) load(opts.file);
  const every = opts.saveEveryMs ?? SAVE_EVERY_MS;
  const timer = opts.file && every > 0 ? setInterval(() => void write(), every) : undefined;
  timer?.unref();

  const countsFor = (e: SessionEvent): PolicyCounts | undefined => {
    const day = utcDay(e.at);
    let domains = days.get(day);
    if (!domains) {
      domains = new Map();
      days.set(day, domains);
      for (const old of [...days.keys()].sort().slice(0, Math.max(0, days.size - MAX_DAYS))) days.delete(old);
    }
    let list = domains.get(e.domain);
    if (!list) {
      if (domains.size >= limits.domainsPerDay) return undefined;
      list = [];
      domains.set(e.domain, list);
    }
    const key = policyKey(e.policy);
    let counts = list.find((c) => policyKey(c.policy) === key);
    if (!counts) {
      if (list.length >= limits.policiesPerDomain) return undefined;
      counts = { policy: e.policy, success: 0, failure: 0, details: [] };
      list.push(counts);
    }
    return counts;
  };

  return {
    record(e) {
      const counts = countsFor(e);
      if (!counts) return;
      dirty = true;
      if (e.ok) {
        counts.success++;
        return;
      }
      counts.failure++;
      const key = detailKey(e.failure);
      const row = counts.details.find((d) => detailKey(d) === key);
      if (row) row.count++;
      // past the bound, a failure is in the summary's total only
      else if (counts.details.length < limits.detailsPerPolicy) counts.details.push({ ...e.failure, count: 1 });
    },
    days: () => [...days.keys()].sort(),
    domainsOf: (day) => days.get(day) ?? new Map(),
    drop(day, domain) {
      const domains = days.get(day);
      if (!domains?.delete(domain)) return;
      if (!domains.size) days.delete(day);
      dirty = true;
    },
    flush: () => write(),
    close: async () => {
      if (timer) clearInterval(timer);
      await write();
    },
  };
}
