// The loaded rules/ snapshot: symbol definitions, action thresholds, overrides and module sections.
import { ConfigError } from '../config/load.ts';
import { loadRuleFiles } from './rules-loader.ts';
import type { SymbolDef, Thresholds } from './rules-sections.ts';
import { RULES_SECTIONS } from './sections-registry.ts';

export interface Ruleset {
  symbols: ReadonlyMap<string, SymbolDef>;
  thresholds: Thresholds;
  subjectPrefix: string;
  rejectReply: string;
  tempfailReply: string;
  /** Threshold overrides by recipient domain or full address (lower-cased). */
  overrides: Readonly<Record<string, Thresholds>>;
  /** A module's own validated section (e.g. 'dnsbl', 'content_rules'). */
  section<T>(key: string): T | undefined;
  files: readonly string[];
  /** Other files the rules read (list files), watched with the rules files. */
  reads: readonly string[];
}

interface ActionsSection extends Thresholds {
  subject_prefix?: string;
  reject_reply?: string;
  tempfail_reply?: string;
}

export function loadRuleset(dirs: readonly string[]): Ruleset {
  const raw = loadRuleFiles(dirs, RULES_SECTIONS);
  const symbols = new Map(Object.entries((raw.sections.get('symbols') ?? {}) as Record<string, SymbolDef>));
  const actions = (raw.sections.get('actions') ?? {}) as ActionsSection;
  const { subject_prefix, reject_reply, tempfail_reply, ...thresholds } = actions;
  const overrides = Object.fromEntries(
    Object.entries((raw.sections.get('overrides') ?? {}) as Record<string, Thresholds>).map(([k, v]) => [k.toLowerCase(), v]),
  );
  return Object.freeze({
    symbols,
    thresholds,
    subjectPrefix: subject_prefix ?? '***SPAM***',
    rejectReply: reject_reply ?? '554 5.7.1 Message rejected as spam',
    tempfailReply: tempfail_reply ?? '451 4.7.1 Message deferred, try again later',
    overrides,
    section: <T>(key: string) => raw.sections.get(key) as T | undefined,
    files: raw.files,
    reads: raw.reads,
  });
}

/** Start-up check: every symbol a check can emit must be defined (ARCHITECTURE convention 1). */
export function assertSymbolsDefined(ruleset: Ruleset, emitted: ReadonlyArray<{ owner: string; symbols: readonly string[] }>): void {
  const problems: string[] = [];
  for (const { owner, symbols } of emitted) {
    for (const s of symbols) {
      if (!ruleset.symbols.has(s)) problems.push(`rules: symbol ${s} (emitted by ${owner}) has no weight and description in rules/*.yaml`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
}

/** Thresholds for one recipient: address override, then domain override, then the defaults. */
export function thresholdsFor(ruleset: Ruleset, recipient?: string): Thresholds {
  if (!recipient) return ruleset.thresholds;
  const addr = recipient.toLowerCase();
  const domain = addr.slice(addr.lastIndexOf('@') + 1);
  return { ...ruleset.thresholds, ...ruleset.overrides[domain], ...ruleset.overrides[addr] };
}
