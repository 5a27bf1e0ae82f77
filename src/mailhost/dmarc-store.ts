// DMARC aggregate report counters (RFC 7489 §7.2): per UTC day and DMARC policy domain, the policy published and
// rows of messages grouped by source IP, disposition, aligned results, identifiers and authentication results,
// with counts. Bounded (domains a day, rows a domain, rows a day: a message past a row bound is not in a row, only in the
// domain's `dropped`, logged once and stated in the report's <error>) and kept in the shared day store
// (report-days.ts: saved atomically with mode 0600, so a restart keeps the day).
import { z } from 'zod';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createDayStore, MAX_DAYS, utcDay, type DayStore } from './report-days.ts';

const policy = z.enum(['none', 'quarantine', 'reject']);
const text = z.string().max(255);
const rowSchema = z.strictObject({
  sourceIp: text.min(1),
  disposition: policy,
  dkim: z.enum(['pass', 'fail']),
  spf: z.enum(['pass', 'fail']),
  headerFrom: text.min(1),
  envelopeFrom: text,
  dkimAuth: z.array(z.strictObject({ domain: text.min(1), selector: text.optional(), result: z.enum(['none', 'pass', 'fail', 'policy', 'neutral', 'temperror', 'permerror']) })).max(5),
  spfAuth: z.strictObject({ domain: text.min(1), scope: z.enum(['mfrom', 'helo']), result: z.enum(['none', 'neutral', 'pass', 'fail', 'softfail', 'temperror', 'permerror']) }).optional(),
  /** RFC 7489 Appendix C policy_evaluated/reason: why the policy published was not applied (PolicyOverrideReason). */
  reason: z.strictObject({ type: z.enum(['forwarded', 'sampled_out', 'trusted_forwarder', 'mailing_list', 'local_policy', 'other']), comment: text.optional() }).optional(),
  count: z.number().int().min(1),
});
const entrySchema = z.strictObject({
  policy: z.strictObject({
    /** The domain whose record was applied (policy_published/domain), its organizational domain and the record text. */
    domain: text.min(1),
    orgDomain: text.min(1),
    record: z.string().max(2048),
    p: policy,
    sp: policy,
    adkim: z.enum(['r', 's']),
    aspf: z.enum(['r', 's']),
    pct: z.number().int().min(0).max(100),
  }),
  rows: z.array(rowSchema),
  dropped: z.number().int().min(0),
});

export type DmarcRow = z.infer<typeof rowSchema>;
export type DmarcPolicyData = z.infer<typeof entrySchema>['policy'];
export type DmarcDomainData = z.infer<typeof entrySchema>;
/** One message as the report counts it, at `at` (epoch ms). */
export interface DmarcObservation {
  at: number;
  policy: DmarcPolicyData;
  row: Omit<DmarcRow, 'count'>;
}

export interface DmarcStoreLimits {
  domainsPerDay: number;
  rowsPerDomain: number;
  /** Rows of all domains of one day: domainsPerDay × rowsPerDomain alone would let rows of forged names reach gigabytes. */
  rowsPerDay: number;
}
export const DEFAULT_DMARC_LIMITS: DmarcStoreLimits = { domainsPerDay: 10_000, rowsPerDomain: 200, rowsPerDay: 100_000 };

export interface DmarcReportStore extends Omit<DayStore<DmarcDomainData>, 'entry'> {
  record(o: DmarcObservation): void;
}

/** Names as the file keeps them (`text`): a longer one (a MAIL FROM domain, a forged DKIM d= or s=) would make the
 * whole file unreadable at the next start, every domain's day lost. */
const MAX_TEXT = 255;
const clip = (s: string): string => s.slice(0, MAX_TEXT);
function clipRow(r: Omit<DmarcRow, 'count'>): Omit<DmarcRow, 'count'> {
  return {
    ...r,
    sourceIp: clip(r.sourceIp),
    headerFrom: clip(r.headerFrom),
    envelopeFrom: clip(r.envelopeFrom),
    dkimAuth: r.dkimAuth.slice(0, 5).map((d) => ({ ...d, domain: clip(d.domain), ...(d.selector !== undefined ? { selector: clip(d.selector) } : {}) })),
    ...(r.spfAuth ? { spfAuth: { ...r.spfAuth, domain: clip(r.spfAuth.domain) } } : {}),
    ...(r.reason ? { reason: { type: r.reason.type, ...(r.reason.comment !== undefined ? { comment: clip(r.reason.comment) } : {}) } } : {}),
  };
}

const rowKey = (r: Omit<DmarcRow, 'count'>): string => JSON.stringify([r.sourceIp, r.disposition, r.dkim, r.spf, r.headerFrom, r.envelopeFrom, r.dkimAuth, r.spfAuth ?? null, r.reason ?? null]);

export interface DmarcStoreOptions {
  file?: string;
  limits?: Partial<DmarcStoreLimits>;
  clock: Clock;
  log: Logger;
  saveEveryMs?: number;
}

export function createDmarcReportStore(opts: DmarcStoreOptions): DmarcReportStore {
  const limits = { ...DEFAULT_DMARC_LIMITS, ...opts.limits };
  const store = createDayStore<DmarcDomainData>({
    ...(opts.file ? { file: opts.file } : {}),
    entrySchema,
    trim: (e) => ({ ...e, rows: e.rows.slice(0, limits.rowsPerDomain) }),
    domainsPerDay: limits.domainsPerDay,
    // a row of at most 5 signatures and a dozen names of 255 bytes; the record of 2 KiB once a domain
    maxFileBytes: MAX_DAYS * (limits.domainsPerDay * 4096 + Math.min(limits.rowsPerDay, limits.domainsPerDay * limits.rowsPerDomain) * 5000) + 1024,
    what: 'DMARC report counters',
    clock: opts.clock,
    log: opts.log,
    ...(opts.saveEveryMs !== undefined ? { saveEveryMs: opts.saveEveryMs } : {}),
  });
  /** Rows of each day in the store, counted from it when a day is first touched (it may come from the file). */
  const rowsOfDay = new Map<string, number>();
  const dayRows = (day: string): number => {
    let n = rowsOfDay.get(day);
    if (n === undefined) {
      n = 0;
      for (const e of store.domainsOf(day).values()) n += e.rows.length;
      for (const d of rowsOfDay.keys()) if (!store.days().includes(d)) rowsOfDay.delete(d);
      rowsOfDay.set(day, n);
    }
    return n;
  };
  return {
    ...store,
    record(o) {
      if (o.policy.domain.length > 253 || o.policy.orgDomain.length > MAX_TEXT) return;
      const policy = { ...o.policy, record: o.policy.record.slice(0, 2048) };
      const r = clipRow(o.row);
      const entry = store.entry(o.at, policy.domain, () => ({ policy, rows: [], dropped: 0 }));
      if (!entry) return;
      // the latest record seen is the one reported (and whose rua the report goes to)
      entry.policy = policy;
      const key = rowKey(r);
      const row = entry.rows.find((r) => rowKey(r) === key);
      const day = utcDay(o.at);
      if (row) row.count++;
      else if (entry.rows.length < limits.rowsPerDomain && dayRows(day) < limits.rowsPerDay) {
        entry.rows.push({ ...r, count: 1 });
        rowsOfDay.set(day, dayRows(day) + 1);
      } else if (entry.dropped++ === 0) {
        opts.log.warn('DMARC report rows full: further messages of this domain and day are not reported in rows', { domain: o.policy.domain, rows: limits.rowsPerDomain, rowsPerDay: limits.rowsPerDay });
      }
    },
  };
}
