// When digest rounds are due: at `at` (local time of the host, "HH:MM") each day and then every `interval` until the
// next day's `at`. A round is due when a slot has passed since the last round: a host down at 07:00 sends at its
// start, and a restart after the round sends nothing again. Local days follow the host's time zone (DST included);
// the slots of a day are counted on its wall clock.

/** The local-time anchor of the day containing `t`, at HH:MM. */
function anchorOf(t: number, hours: number, minutes: number, dayOffset = 0): number {
  const d = new Date(t);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + dayOffset, hours, minutes, 0, 0).getTime();
}

function parseAt(at: string): [number, number] {
  const [h, m] = at.split(':').map(Number);
  return [h ?? 0, m ?? 0];
}

/**
 * The day's anchor at or before `now`, the next day's, and slot k of the day: k intervals after the anchor on the
 * wall clock (so 24h stays once a day on a 25- or 23-hour day of a DST change, and 6h keeps 07:00, 13:00, …).
 */
function dayOf(now: number, at: string, intervalMs: number): { next: number; slot: (k: number) => number; k: number } {
  const [h, m] = parseAt(at);
  let anchor = anchorOf(now, h, m);
  if (anchor > now) anchor = anchorOf(now, h, m, -1);
  const next = anchorOf(anchor, h, m, 1);
  const d = new Date(anchor);
  const slot = (k: number): number => (k === 0 ? anchor : new Date(d.getFullYear(), d.getMonth(), d.getDate(), h, m, 0, k * intervalMs).getTime());
  // the elapsed time gives k within an hour's shift; a few steps settle it on the wall clock
  let k = Math.floor((now - anchor) / intervalMs);
  while (k > 0 && (slot(k) > now || slot(k) >= next)) k--;
  while (slot(k + 1) <= now && slot(k + 1) < next) k++;
  return { next, slot, k };
}

/** The latest slot at or before `now` (the slots of one day stop before the next day's anchor). */
export function latestSlot(now: number, at: string, intervalMs: number): number {
  const { slot, k } = dayOf(now, at, intervalMs);
  return slot(k);
}

/** The first slot after `now`. */
export function nextSlot(now: number, at: string, intervalMs: number): number {
  const { next, slot, k } = dayOf(now, at, intervalMs);
  return Math.min(slot(k + 1), next);
}

/**
 * A round is due when a slot passed after the last one (none yet: never due by the clock; the first slot starts it).
 * A last round in the future means the clock was set back after running ahead: due now, or none would come until
 * the clock caught up with it.
 */
export function roundDue(lastRound: number | undefined, now: number, at: string, intervalMs: number): boolean {
  if (lastRound === undefined) return false;
  if (lastRound > now) return true;
  return latestSlot(now, at, intervalMs) > lastRound;
}
