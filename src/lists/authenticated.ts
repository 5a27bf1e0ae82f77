// Whether a sender domain is authenticated in this transaction, from the results the SPF (RFC 7208) and
// DKIM/DMARC (RFC 6376, RFC 7489) checks left in ctx.results: an SPF pass for the MAIL FROM identity, a DKIM
// pass by a signing domain, a DMARC pass for the From domain, each aligned with the domain asked about.
import type { DKIMVerifyResult } from 'mailauth';
import { aligned } from '../checks/arc-override.ts';
import { DKIM_RESULT_KEY, DMARC_RESULT_KEY } from '../checks/dkim-dmarc.ts';
import { SPF_RESULT_KEY } from '../checks/spf.ts';
import type { SpfOutcome } from '../dns/spf.ts';
import type { AuthMethod } from './list-schema.ts';

type Results = ReadonlyMap<string, unknown>;

/** What DMARC leaves in ctx.results (mailauth's DMARCResult, the fields read here). */
interface DmarcLike {
  domain?: string;
  status?: { result?: string; header?: { from?: string } };
  /** The identifiers that aligned: SPF's domain, DKIM's domain and the bytes of body its signature left unsigned (l=). */
  alignment?: { spf?: { result?: string | false }; dkim?: { result?: string | false; underSized?: number } };
}

/** Same name, or one under the other (relaxed alignment without the public suffix list, see arc-override.ts). */
const sameOrg = (a: string, b: string): boolean => a === b || aligned(a, b);

function spfPass(results: Results, domain: string): boolean {
  const spf = results.get(SPF_RESULT_KEY) as SpfOutcome | undefined;
  // RFC 7208 §2.4: for a null sender the identity checked is the HELO name, which authenticates no sender
  return spf?.result === 'pass' && spf.identity === 'mailfrom' && sameOrg(spf.domain.toLowerCase(), domain);
}

// RFC 6376 §8.2: a signature with l= leaves the bytes after that length unsigned, and anyone holding one such
// message of the domain may append to it (a text, a MIME part): it vouches for no message it could be part of.
function dkimPass(results: Results, domain: string): boolean {
  const dkim = results.get(DKIM_RESULT_KEY) as DKIMVerifyResult['results'] | undefined;
  return (dkim ?? []).some((r) => r.status.result === 'pass' && !r.status.underSized && r.signingDomain !== undefined && sameOrg(r.signingDomain.toLowerCase(), domain));
}

function dmarcPass(results: Results, domain: string): boolean {
  const dmarc = results.get(DMARC_RESULT_KEY) as DmarcLike | undefined;
  const from = (dmarc?.status?.header?.from ?? dmarc?.domain ?? '').toLowerCase();
  // a DMARC pass that rests on such a signature alone (SPF not aligned) is worth no more than the signature
  const partial = !dmarc?.alignment?.spf?.result && Boolean(dmarc?.alignment?.dkim?.underSized);
  return dmarc?.status?.result === 'pass' && !partial && from !== '' && sameOrg(from, domain);
}

const METHODS = { spf: spfPass, dkim: dkimPass, dmarc: dmarcPass } as const;

/** The method that authenticates `domain` (lower-case A-labels) as `method` asks, or undefined. */
export function authenticatedBy(method: AuthMethod, domain: string, results: Results): 'spf' | 'dkim' | 'dmarc' | undefined {
  const order = method === 'any' ? (['dmarc', 'dkim', 'spf'] as const) : ([method] as const);
  return order.find((m) => METHODS[m](results, domain));
}
