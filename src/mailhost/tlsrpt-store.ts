// TLS report counters (RFC 8460 §4): per UTC day, recipient policy domain and policy, the successful TLS sessions
// and the failed ones by result type and hosts; bounded (domains a day, policies a domain, detail rows a policy)
// and kept in the shared day store (report-days.ts: saved atomically, mode 0600, so a restart keeps the day).
import { z } from 'zod';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createDayStore, MAX_DAYS, utcDay, type DayStore } from './report-days.ts';

/**
 * RFC 8460 §4.3 result types spamgate reports. DANE (outbound.dane): tlsa-invalid (no TLSA record matches the
 * certificate) and dnssec-invalid (the TLSA or secure address look-up failed); dane-required is not produced, as
 * spamgate has no setting that requires DANE of a domain.
 */
export const RESULT_TYPES = [
  'starttls-not-supported',
  'certificate-host-mismatch',
  'certificate-expired',
  'certificate-not-trusted',
  'validation-failure',
  'sts-policy-fetch-error',
  'sts-policy-invalid',
  'sts-webpki-invalid',
  'tlsa-invalid',
  'dnssec-invalid',
] as const;
export type ResultType = (typeof RESULT_TYPES)[number];

/** RFC 8460 §4.4 policy: an MTA-STS policy (its lines and mx patterns), a TLSA RRset (its records), or none found. */
export type ReportPolicy = { type: 'sts'; lines: string[]; mx: string[] } | { type: 'tlsa'; lines: string[] } | { type: 'no-policy-found' };

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

export interface TlsReportStore extends Omit<DayStore<PolicyCounts[]>, 'entry'> {
  record(e: SessionEvent): void;
}

export { utcDay };

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
const policySchema = z.union([
  z.strictObject({ type: z.literal('sts'), lines: z.array(z.string().max(300)).max(30), mx: z.array(text).max(30) }),
  // a TLSA RRset as outbound records it: at most MAX_TLSA_RECORDS (16) records, each cut to 160 hex digits
  z.strictObject({ type: z.literal('tlsa'), lines: z.array(z.string().max(300)).max(30) }),
  z.strictObject({ type: z.literal('no-policy-found') }),
]);
const countsSchema = z.strictObject({ policy: policySchema, success: z.number().int().min(0), failure: z.number().int().min(0), details: z.array(detailSchema) });

const policyKey = (p: ReportPolicy): string => JSON.stringify(p);
const detailKey = (d: FailureDetail): string => [d.resultType, d.sendingMtaIp, d.receivingMxHostname, d.receivingIp, d.reasonCode].join('|');

export interface StoreOptions {
  /** The state file; memory only without one. */
  file?: string;
  limits?: Partial<StoreLimits>;
  clock: Clock;
  log: Logger;
  /** How often changed counters are written (every minute); 0: only at flush and close. */
  saveEveryMs?: number;
}

export function createTlsReportStore(opts: StoreOptions): TlsReportStore {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const store = createDayStore<PolicyCounts[]>({
    ...(opts.file ? { file: opts.file } : {}),
    entrySchema: z.array(countsSchema),
    trim: (list) => list.slice(0, limits.policiesPerDomain).map((c) => ({ ...c, details: c.details.slice(0, limits.detailsPerPolicy) })),
    domainsPerDay: limits.domainsPerDay,
    // full days: every domain with its policies (at most 30 lines and 30 mx patterns of 300 bytes) and detail rows
    maxFileBytes: MAX_DAYS * limits.domainsPerDay * limits.policiesPerDomain * (18_000 + limits.detailsPerPolicy * 400) + 1024,
    what: 'TLS report counters',
    clock: opts.clock,
    log: opts.log,
    ...(opts.saveEveryMs !== undefined ? { saveEveryMs: opts.saveEveryMs } : {}),
  });

  const countsFor = (e: SessionEvent): PolicyCounts | undefined => {
    const list = store.entry(e.at, e.domain, () => []);
    if (!list) return undefined;
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
    ...store,
    record(e) {
      const counts = countsFor(e);
      if (!counts) return;
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
  };
}
