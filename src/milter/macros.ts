// The macros an MTA sends (SMFIC_MACRO) before each step, kept per step: a step's new macros replace what it
// said at that step before, so a value from the last transaction does not outlive it. What is held is bounded:
// 32 steps of 100 macros, names and values decoded from at most their first bytes (a cut string would hold on to
// the whole text it was cut from).

/** Macros kept per step, and the bytes of a name and of a value looked at. */
const MAX_PER_STEP = 100;
const MAX_NAME = 64;
const MAX_VALUE = 1024;

/** SMFIC_MACRO's data: the step's letter, then NUL-terminated name/value pairs; "{name}" and "name" are one macro. */
export function parseMacros(data: Buffer): { step: string; macros: Map<string, string> } | undefined {
  if (data.length === 0) return undefined;
  const macros = new Map<string, string>();
  const pieces: Buffer[] = [];
  let start = 1;
  // only the pieces of the pairs kept are looked at; a last piece without its NUL counts (as splitCStrings takes it)
  while (start < data.length && pieces.length < 2 * MAX_PER_STEP) {
    const nul = data.indexOf(0, start);
    const end = nul < 0 ? data.length : nul;
    pieces.push(data.subarray(start, end));
    start = end + 1;
  }
  for (let i = 0; i + 1 < pieces.length; i += 2) {
    const name = pieces[i] as Buffer;
    // a longer name is no macro anyone looks up
    if (name.length > MAX_NAME) continue;
    const value = (pieces[i + 1] as Buffer).subarray(0, MAX_VALUE);
    macros.set(name.toString('latin1').replace(/^\{(.*)\}$/, '$1'), value.toString('latin1'));
  }
  return { step: String.fromCharCode(data[0] ?? 0), macros };
}

/** The macros the MTA sent, by step; a name is looked up in the latest step that has it. */
export class StepMacros {
  private readonly steps = new Map<string, Map<string, string>>();

  set(step: string, macros: Map<string, string>): void {
    // re-inserted, so the newest step is looked at first (at most one entry per step letter)
    this.steps.delete(step);
    if (this.steps.size < 32) this.steps.set(step, macros);
  }

  get(name: string): string | undefined {
    for (const m of [...this.steps.values()].reverse()) {
      const v = m.get(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Forgets what the MTA said at these steps (a transaction's, when it ends). */
  drop(steps: Iterable<string>): void {
    for (const step of steps) this.steps.delete(step);
  }

  clear(): void {
    this.steps.clear();
  }
}
