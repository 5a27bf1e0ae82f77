// What the spamtest, spamtestplus and virustest tests of RFC 5235 see: spamgate's own verdict for the recipient,
// mapped at the end of DATA onto the RFC's scales and carried to local delivery in the spool envelope (never read
// from a header of the message). Absent values are "0", not tested (RFC 5235 §3.2.1, §3.2.2, §3.3).

/** The verdict facts a script may test; a field left out was not tested. */
export interface SieveVerdict {
  /** spamtest without :percent, 1–10, and with :percent, 0–100. */
  spam?: { value: number; percent: number };
  /** virustest, 1–5 (RFC 5235 §3.3). */
  virus?: number;
}

/** The thresholds of one recipient that anchor the scale (rules/ `actions` and its overrides). */
export interface SpamScaleThresholds {
  junk?: number | undefined;
  quarantine?: number | undefined;
  tempfail?: number | undefined;
  reject?: number | undefined;
}

/** Anchors when a recipient has no threshold at all: the shipped rules' junk and reject. */
const FALLBACK_JUNK = 6;
const FALLBACK_SPAM = 15;

/**
 * The spamtest values of a score for a recipient's thresholds. The scale is piecewise linear, anchored where
 * spamgate acts: a score ≤ 0 is 1 (and 0%), the score that takes mail out of the inbox (the lowest of junk,
 * quarantine, tempfail and reject) is 6 (50%), the lowest refusing threshold above it (quarantine, tempfail,
 * reject; twice the junk point when there is none) is 10 (100%); in between, rounded down. So
 * `spamtest :value "ge" … "6"` is "spamgate would have taken it out of the inbox", `"10"` "would have refused it".
 * An action stricter than the score says (a recipient's Junk by a hard policy) lifts the value to its anchor.
 */
export function spamtestValues(score: number, thresholds: SpamScaleThresholds, action: string): { value: number; percent: number } {
  const { junkAt, spamAt } = anchors(thresholds);
  const scale = (low: number, mid: number, high: number): number => {
    if (score >= spamAt) return high;
    if (score >= junkAt) return mid + Math.floor(((high - mid) * (score - junkAt)) / (spamAt - junkAt));
    if (score <= 0) return low;
    return low + Math.floor(((mid - low) * score) / junkAt);
  };
  let value = clamp(scale(1, 6, 10), 1, 10);
  let percent = clamp(scale(0, 50, 100), 0, 100);
  if (action === 'reject' || action === 'tempfail' || action === 'quarantine') [value, percent] = [10, 100];
  else if (action === 'junk') [value, percent] = [Math.max(value, 6), Math.max(percent, 50)];
  return { value, percent };
}

function anchors(t: SpamScaleThresholds): { junkAt: number; spamAt: number } {
  const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  const out = defined([t.junk, t.quarantine, t.tempfail, t.reject]);
  if (!out.length) return { junkAt: FALLBACK_JUNK, spamAt: FALLBACK_SPAM };
  const junkAt = Math.min(...out);
  const above = defined([t.quarantine, t.tempfail, t.reject]).filter((x) => x > junkAt);
  // the junk point above 0, so the lower segment has a length (a junk threshold ≤ 0 makes every score ≥ 6)
  const spamAt = above.length ? Math.min(...above) : junkAt > 0 ? junkAt * 2 : junkAt + FALLBACK_SPAM - FALLBACK_JUNK;
  return { junkAt, spamAt };
}

function clamp(n: number, low: number, high: number): number {
  return Number.isFinite(n) ? Math.min(high, Math.max(low, n)) : low;
}

/**
 * RFC 5235 §3.3 virustest from the antivirus scan: 1 tested, no known virus; 5 a known virus that was not
 * cured or replaced (spamgate removes nothing, so 2–4 never occur); undefined (0) when not scanned: antivirus
 * off, the message over antivirus.max_size, or clamd failing with on_error accept.
 */
export function virustestValue(scan: string | undefined): number | undefined {
  if (scan === 'clean') return 1;
  if (scan === 'virus') return 5;
  return undefined;
}
