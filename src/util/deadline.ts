// A time limit as an AbortSignal, held by its own timer and cleared when the work ends. Not AbortSignal.timeout()
// combined with AbortSignal.any(): any() holds its sources weakly, and once nothing else held the timeout signal
// (V8 drops a local it no longer reads) a garbage collection took the time limit away (seen on Node 20).
export interface Deadline {
  /** Aborted when the time is up, or when the other signal given aborts. */
  readonly signal: AbortSignal;
  /** Whether this deadline's own time ran out (not the other signal). */
  readonly expired: boolean;
  /** Stops the timer: call it when the work ends, whichever way. */
  clear(): void;
}

export function startDeadline(ms: number, also?: AbortSignal): Deadline {
  const own = new AbortController();
  const timer = setTimeout(() => own.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
  const signal = also ? AbortSignal.any([own.signal, also]) : own.signal;
  return {
    signal,
    get expired() {
      return own.signal.aborted;
    },
    clear: () => clearTimeout(timer),
  };
}
