// When a report that one destination did not take is tried again (TLS reports, DMARC aggregate reports): RFC 8460
// §5.5 asks a sender whose delivery failed to try again for up to 24 hours after the first attempt, with exponential
// backoff; DMARC reports (RFC 7489 §7.2) are retried the same way. Bounded in attempts and in time.

/** The waits after the 1st, 2nd, … failed attempt: 15 min, 1 h, 3 h, 6 h, 12 h (six attempts in 22 h 15 min). */
export const RETRY_DELAYS_MS: readonly number[] = [15, 60, 180, 360, 720].map((m) => m * 60_000);
/** RFC 8460 §5.5: a sender SHOULD attempt redelivery; it is tried for up to 24 hours after the initial attempt. */
export const RETRY_WINDOW_MS = 24 * 3600_000;

export interface RetryPolicy {
  /** The wait after each failed attempt; its length bounds the retries (attempts = length + 1). */
  delaysMs: readonly number[];
  /** No attempt starts later than this after the first one. */
  windowMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { delaysMs: RETRY_DELAYS_MS, windowMs: RETRY_WINDOW_MS };

/** A destination's failed attempts so far: how many, the first and the last (epoch ms). */
export interface Failures {
  tries: number;
  firstAt: number;
  lastAt: number;
}

/** After `f`, at `now`: try again now, wait, or give up (attempts or window spent). */
export function nextAttempt(policy: RetryPolicy, f: Failures, now: number): 'due' | 'wait' | 'give_up' {
  const delay = policy.delaysMs[f.tries - 1];
  if (delay === undefined) return 'give_up';
  const at = f.lastAt + delay;
  if (at - f.firstAt > policy.windowMs) return 'give_up';
  return now >= at ? 'due' : 'wait';
}
