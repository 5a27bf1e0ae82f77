// What one received message is in a DMARC aggregate report (RFC 7489 §7.2): from the check results of the
// transaction (mailauth's DMARC result and record, the DKIM signatures, the SPF outcome), the client address and
// the gateway's final action, a row and the policy published; none for a domain without a DMARC record, for a
// DMARC temperror/permerror, and for report mail itself (the loop guard, isReportMail).
import type { DKIMVerifyResult, DMARCResult } from 'mailauth';
import type { Action } from '../scoring/scorer.ts';
import type { SpfOutcome } from '../dns/spf.ts';
import type { ArcOverride } from '../checks/arc-override.ts';
import { ARC_OVERRIDE_KEY, DKIM_RESULT_KEY, DMARC_RESULT_KEY } from '../checks/dkim-dmarc.ts';
import { SPF_RESULT_KEY } from '../checks/spf.ts';
import { parseDmarcRecord, type Policy } from './dmarc-record.ts';
import type { DmarcObservation, DmarcRow } from './dmarc-store.ts';

export interface FinalEvent {
  at: number;
  action: Action;
  clientIp: string;
  mailFrom: string;
  message: Buffer;
  results: ReadonlyMap<string, unknown>;
}

/**
 * RFC 7489 §7.2 policy_evaluated/disposition from the gateway's action: reject is reject; quarantine (held in
 * spamgate's quarantine) and junk (delivered to the Junk folder) are quarantine; every delivery to the inbox
 * (accept, add_header, rewrite_subject) is none. tempfail is no disposition (the message comes again): not counted.
 */
export function dispositionOf(action: Action): Policy | undefined {
  if (action === 'tempfail') return undefined;
  if (action === 'reject') return 'reject';
  return action === 'quarantine' || action === 'junk' ? 'quarantine' : 'none';
}

const DKIM_RESULTS = ['none', 'pass', 'fail', 'policy', 'neutral', 'temperror', 'permerror'] as const;
type DkimResult = (typeof DKIM_RESULTS)[number];
const MAX_SIGNATURES = 5;

/**
 * The loop guard: a report is not reported on. Mail carrying a report (multipart/report, a TLS report's
 * TLS-Report-Domain field, the RFC 7489 §7.2.1.1 aggregate report Subject) or From our own report address.
 */
export function isReportMail(message: Buffer, ownAddress: string): boolean {
  const end = message.indexOf('\r\n\r\n');
  const head = message.subarray(0, end < 0 ? Math.min(message.length, 64 * 1024) : end).toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  if (/^TLS-Report-Domain[ \t]*:/im.test(head) || /^Content-Type[ \t]*:[ \t]*multipart\/report/im.test(head)) return true;
  if (/^Subject[ \t]*:[ \t]*Report[ \t]+Domain:[ \t]*\S+[ \t]+Submitter:/im.test(head)) return true;
  const from = /^From[ \t]*:(.*)$/im.exec(head)?.[1] ?? '';
  return from.toLowerCase().includes(ownAddress.toLowerCase());
}

const domainOf = (address: string): string => (address.includes('@') ? address.slice(address.lastIndexOf('@') + 1).toLowerCase() : '');

export function observeDmarc(e: FinalEvent): DmarcObservation | undefined {
  const disposition = dispositionOf(e.action);
  const dmarc = e.results.get(DMARC_RESULT_KEY) as DMARCResult | undefined;
  if (!disposition || !dmarc?.rr) return undefined;
  const result = dmarc.status.result;
  // a temperror (the alignment unknown) has no dkim/spf pass or fail to report
  if (result !== 'pass' && result !== 'fail') return undefined;
  const record = parseDmarcRecord(dmarc.rr);
  if (typeof record === 'string') return undefined;
  const headerFrom = (dmarc.status.header?.from ?? dmarc.domain).toLowerCase();
  const policyDomain = (dmarc.policyDomain ?? dmarc.domain).toLowerCase();
  const signatures = ((e.results.get(DKIM_RESULT_KEY) as DKIMVerifyResult['results'] | undefined) ?? []).filter((r) => r.signingDomain && r.status.result !== 'none');
  const spf = e.results.get(SPF_RESULT_KEY) as SpfOutcome | undefined;
  // an override is one only when the disposition is not the policy (a message rejected on its score anyway is not)
  const override = result === 'fail' && disposition !== dmarc.policy ? (e.results.get(ARC_OVERRIDE_KEY) as ArcOverride | undefined) : undefined;
  const row: Omit<DmarcRow, 'count'> = {
    sourceIp: e.clientIp,
    disposition,
    // RFC 7489 §7.2 policy_evaluated: the DMARC-aligned results
    dkim: dmarc.alignment.dkim.result ? 'pass' : 'fail',
    spf: dmarc.alignment.spf.result ? 'pass' : 'fail',
    headerFrom,
    envelopeFrom: domainOf(e.mailFrom),
    dkimAuth: signatures.slice(0, MAX_SIGNATURES).map((r) => {
      const res = r.status.result as string;
      return { domain: (r.signingDomain ?? '').toLowerCase(), ...(r.selector ? { selector: r.selector } : {}), result: (DKIM_RESULTS as readonly string[]).includes(res) ? (res as DkimResult) : 'permerror' };
    }),
    ...(spf?.domain ? { spfAuth: { domain: spf.domain.toLowerCase(), scope: spf.identity === 'helo' ? 'helo' : 'mfrom', result: spf.result } } : {}),
    // RFC 7489 §7.2 / Appendix C: a policy not applied says why; a trusted ARC sealer is a trusted forwarder
    ...(override ? { reason: { type: 'trusted_forwarder' as const, comment: `arc=pass i=${override.instance} sealer=${override.sealer} ${override.method}=pass` } } : {}),
  };
  return { at: e.at, policy: { domain: policyDomain, orgDomain: dmarc.domain.toLowerCase(), record: dmarc.rr.slice(0, 2048), ...record.policy }, row };
}
