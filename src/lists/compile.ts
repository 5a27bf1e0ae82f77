// Compiles the `lists:` section of one rules file (entries inline and from list files, relative to that file's
// directory) into entry sets, reporting every bad entry with its file and line; and adds the lists' symbols to
// the ruleset's symbol table, as content rules do.
import path from 'node:path';
import type { Phase } from '../checks/types.ts';
import { ConfigError } from '../config/load.ts';
import { formatIssues, lineOf, type ParsedYaml } from '../config/yaml-errors.ts';
import type { RulesSource } from '../scoring/rules-loader.ts';
import type { SymbolDef } from '../scoring/rules-sections.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { EntrySet, type EntryKind } from './entries.ts';
import { MAX_LIST_ENTRIES, readListFile } from './list-file.ts';
import { listDefSchema, type AuthMethod, type ListDef, type ListType } from './list-schema.ts';

/** One list ready to match: its symbol, what it matches, in which phase, and its entries. */
export interface CompiledList {
  symbol: string;
  type: ListType;
  phase: Phase;
  authenticated?: AuthMethod;
  def: SymbolDef;
  entries: EntrySet;
  /** "rules-file:line" of the list's key, for problems found after the files are merged. */
  origin: string;
}

/** The section's value after loading: symbol → list (a later definition replaces the earlier). */
export type ListsSection = Record<string, CompiledList>;

const KIND: Record<ListType, EntryKind> = { ip: 'ip', helo: 'host', client_hostname: 'host', envelope_from: 'address', rcpt: 'address', from: 'address' };

/**
 * The phase a list is checked in. An envelope sender authenticated by DKIM or DMARC is known only once the
 * message is in: such an envelope_from list waits for the data phase; by SPF (or unauthenticated) it is at MAIL.
 */
export function listPhase(type: ListType, authenticated: AuthMethod | undefined): Phase {
  switch (type) {
    case 'ip':
    case 'client_hostname':
      return 'connect';
    case 'helo':
      return 'helo';
    case 'envelope_from':
      return authenticated === undefined || authenticated === 'spf' ? 'mail' : 'data';
    case 'rcpt':
      return 'rcpt';
    case 'from':
      return 'data';
  }
}

function at(parsed: ParsedYaml, keyPath: readonly PropertyKey[]): string {
  const line = lineOf(parsed, keyPath);
  return `${parsed.file}${line ? `:${line}` : ''}`;
}

/** Compiles one list of one rules file: the list and the files read, or the problems. */
export function compileList(symbol: string, def: ListDef, source: RulesSource): { list?: CompiledList; problems: string[]; reads: string[] } {
  const problems: string[] = [];
  const reads: string[] = [];
  const entries = new EntrySet(KIND[def.type]);
  for (const [i, raw] of (def.entries ?? []).entries()) {
    const problem = entries.add(raw);
    if (problem) problems.push(`${at(source.parsed, [source.key, symbol, 'entries', i])}: ${source.key}.${symbol}.entries[${i}]: ${problem}`);
  }
  if (def.file !== undefined) {
    const file = path.resolve(path.dirname(source.file), def.file);
    reads.push(file);
    const found = readListFile(file, def.file, entries);
    // a list file that cannot be read at all is named where the rules file names it
    if (found.length === 1 && found[0]?.startsWith(`${file}: cannot read`)) problems.push(`${at(source.parsed, [source.key, symbol, 'file'])}: ${source.key}.${symbol}.file: ${found[0]}`);
    else problems.push(...found);
  }
  if (entries.size > MAX_LIST_ENTRIES && problems.length === 0) problems.push(`${at(source.parsed, [source.key, symbol])}: ${source.key}.${symbol}: more than ${MAX_LIST_ENTRIES} entries`);
  if (problems.length) return { problems, reads };
  const symbolDef: SymbolDef = { weight: def.weight, description: def.description, ...(def.reply !== undefined ? { reply: def.reply } : {}), ...(def.group !== undefined ? { group: def.group } : {}) };
  const list: CompiledList = {
    symbol,
    type: def.type,
    phase: listPhase(def.type, def.authenticated),
    ...(def.authenticated !== undefined ? { authenticated: def.authenticated } : {}),
    def: symbolDef,
    entries,
    origin: at(source.parsed, [source.key, symbol]),
  };
  return { list, problems, reads };
}

/** The rules loader's resolve step for `lists:` (see RulesSection.resolve). */
export function resolveListsSection(value: unknown, source: RulesSource): { value: unknown; problems: string[]; reads: string[] } {
  const out: ListsSection = {};
  const problems: string[] = [];
  const reads: string[] = [];
  for (const [symbol, raw] of Object.entries(value as Record<string, unknown>)) {
    const def = listDefSchema.safeParse(raw);
    if (!def.success) {
      problems.push(...formatIssues(source.parsed, def.error.issues, [source.key, symbol]));
      continue;
    }
    const r = compileList(symbol, def.data, source);
    problems.push(...r.problems);
    reads.push(...r.reads);
    if (r.list) out[symbol] = r.list;
  }
  return { value: out, problems, reads };
}

/** The lists of a ruleset, in definition order. */
export function rulesetLists(ruleset: Ruleset): CompiledList[] {
  return Object.values(ruleset.section<ListsSection>('lists') ?? {});
}

/**
 * The ruleset with the lists' symbols added. A list is its symbol's one definition: a list named like a symbol
 * defined elsewhere (symbols:, a content rule) would mix its hits with another check's, so that is refused.
 */
export function withListSymbols(ruleset: Ruleset): Ruleset {
  const lists = rulesetLists(ruleset);
  if (lists.length === 0) return ruleset;
  const clashes = lists.filter((l) => ruleset.symbols.has(l.symbol));
  if (clashes.length) throw new ConfigError(clashes.map((l) => `${l.origin}: lists.${l.symbol}: ${l.symbol} is also defined in symbols: or content_rules:; give the list a name of its own`));
  const symbols = new Map<string, SymbolDef>(ruleset.symbols);
  for (const l of lists) symbols.set(l.symbol, l.def);
  return Object.freeze({ ...ruleset, symbols, section: ruleset.section });
}
