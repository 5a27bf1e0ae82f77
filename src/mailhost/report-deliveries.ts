// One domain's report to each of its destinations (rua URIs), shared by TLS reports and DMARC aggregate reports:
// a destination that took the report, or refused it for good, is not tried again; one that failed for now is tried
// again on the backoff of report-retry.ts until it takes the report or its attempts or window are spent; each
// outcome is in the round's journal before the next destination, so only the failed ones are ever retried. A
// destination the journal has no room for (MAX_DESTINATIONS) is not sent to: never sent without being journaled.
import type { DayJournal } from './report-journal.ts';
import { nextAttempt, type RetryPolicy } from './report-retry.ts';

/** What one attempt at a destination came to. */
export type Attempt = 'sent' | 'retry' | 'never' | 'unverified';

export interface Destination {
  /** The destination's key in the journal (the rua URI). */
  key: string;
  send(): Promise<Attempt>;
}

export interface DeliveryRound {
  domain: string;
  journal: DayJournal;
  policy: RetryPolicy;
  now: () => number;
  /** Aborted by close(): an attempt it cuts short is not recorded (made again at the next start). */
  closing: AbortSignal;
}

export interface DeliveryOutcome {
  /** At least one destination has taken the report (now or earlier). */
  sent: boolean;
  /** Some destination is still to be tried (after its wait, or at the next start): the report is not finished. */
  pending: boolean;
  /** A destination failed for now in this round and will be tried again. */
  retried: boolean;
  /** A destination's attempts were spent in this round. */
  givenUp: boolean;
  /** Every destination is an external rua without consent. */
  allUnverified: boolean;
  /** Destinations not sent to: past MAX_DESTINATIONS of the domain's journal (a record that changed many times). */
  skipped: number;
}

/** True while the domain's destinations are known and every unfinished one still waits for its next attempt. */
export function waiting(r: DeliveryRound): boolean {
  const states = [...r.journal.destinations(r.domain).values()];
  const open = states.filter((st) => st.s === 'failed');
  return open.length > 0 && open.every((st) => nextAttempt(r.policy, st, r.now()) === 'wait');
}

export async function deliverAll(r: DeliveryRound, destinations: readonly Destination[]): Promise<DeliveryOutcome> {
  const out: DeliveryOutcome = { sent: false, pending: false, retried: false, givenUp: false, allUnverified: false, skipped: 0 };
  for (const dest of destinations) {
    const before = r.journal.destinations(r.domain).get(dest.key);
    if (!before && !r.journal.hasRoom(r.domain, dest.key)) {
      out.skipped++;
      continue;
    }
    if (before && before.s !== 'failed') {
      if (before.s === 'sent') out.sent = true;
      continue;
    }
    if (before) {
      const next = nextAttempt(r.policy, before, r.now());
      if (next === 'wait') {
        out.pending = true;
        continue;
      }
      if (next === 'give_up') {
        // its window passed while spamgate was not running
        await r.journal.mark(r.domain, dest.key, { s: 'given_up' });
        out.givenUp = true;
        continue;
      }
    }
    if (r.closing.aborted) {
      out.pending = true;
      continue;
    }
    const attempt = await dest.send();
    if (attempt !== 'sent' && r.closing.aborted) {
      out.pending = true;
      continue;
    }
    const now = r.now();
    if (attempt === 'retry') {
      const failures = { tries: (before?.tries ?? 0) + 1, firstAt: before?.firstAt ?? now, lastAt: now };
      if (nextAttempt(r.policy, failures, now) === 'give_up') {
        await r.journal.mark(r.domain, dest.key, { s: 'given_up' });
        out.givenUp = true;
      } else {
        await r.journal.mark(r.domain, dest.key, { s: 'failed', ...failures });
        out.pending = out.retried = true;
      }
      continue;
    }
    await r.journal.mark(r.domain, dest.key, { s: attempt });
    if (attempt === 'sent') out.sent = true;
  }
  out.allUnverified = destinations.length > 0 && destinations.every((d) => r.journal.destinations(r.domain).get(d.key)?.s === 'unverified');
  return out;
}
