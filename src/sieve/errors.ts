// Sieve script errors: every syntax and validation problem names the line and column it was found at.

export interface SievePosition {
  /** 1-based line. */
  line: number;
  /** 1-based column, in characters. */
  col: number;
}

export interface SieveProblem extends SievePosition {
  message: string;
}

/** Raised by the lexer and parser: the first syntax error stops parsing. */
export class SieveSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly col: number,
    message: string,
  ) {
    super(message);
    this.name = 'SieveSyntaxError';
  }
}

/** "line:col: message", the form `spamgate users sieve check` prints. */
export function formatProblem(p: SieveProblem): string {
  return `${p.line}:${p.col}: ${p.message}`;
}
