// When digest rounds are due: at `at` (local time of the host, "HH:MM") each day and then every `interval` until the
// next day's `at`. A round is due when a slot has passed since the last round: a host down at 07:00 sends at its
// start, and a restart after the round sends nothing again. Local days follow the host's time zone (DST included).

/** The local-time anchor of the day containing `t`, at HH:MM. */
function anchorOf(t: number, hours: number, minutes: number, dayOffset = 0): number {
  const d = new Date(t);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + dayOffset, hours, minutes, 0, 0).getTime();
}

function parseAt(at: string): [number, number] {
  const [h, m] = at.split(':').map(Number);
  return [h ?? 0, m ?? 0];
}

/** The latest slot at or before `now`. */
export function latestSlot(now: number, at: string, intervalMs: number): number {
  const [h, m] = parseAt(at);
  let anchor = anchorOf(now, h, m);
  if (anchor > now) anchor = anchorOf(now, h, m, -1);
  const next = anchorOf(anchor, h, m, 1);
  const slot = anchor + Math.floor((now - anchor) / intervalMs) * intervalMs;
  // the slots of one day stop at the next day's anchor
  return Math.min(slot, next);
}

/** The first slot after `now`. */
export function nextSlot(now: number, at: string, intervalMs: number): number {
  const [h, m] = parseAt(at);
  const today = anchorOf(now, h, m);
  const nextAnchor = today > now ? today : anchorOf(now, h, m, 1);
  return Math.min(latestSlot(now, at, intervalMs) + intervalMs, nextAnchor);
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
