// The macros an MTA sends (SMFIC_MACRO) before each step, kept per step: a step's new macros replace what it
// said at that step before, so a value from the last transaction does not outlive it.

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
