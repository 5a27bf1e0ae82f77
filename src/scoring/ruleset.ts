// The loaded rules/ snapshot: symbol definitions, action thresholds, overrides and module sections.
import { domainToASCII } from 'node:url';
import { ConfigError } from '../config/load.ts';
import { canonicalMailbox, stripSourceRoute } from '../smtp/address.ts';
import { withoutSubaddress } from '../smtp/subaddress.ts';
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
  /**
   * mailhost.subaddress_delimiter ('' for none), in both modes: an override for `alice@` applies to `alice+tag@`
   * too (thresholdsFor). Carried here so every caller judging by the ruleset cuts as the config says.
   */
  subaddressDelimiter: string;
  /**
   * Full-stack mode: the address is a user or an alias of its own (UserDirectory.hasOwnEntry), which the mail host
   * does not cut (src/mailhost/aliases.ts): no sub-address, so it never takes another address's override.
   */
  ownAddress?: (address: string) => boolean;
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

export interface RulesetOptions {
  /** mailhost.subaddress_delimiter; its default '+' when not given. */
  subaddressDelimiter?: string;
  /** Full-stack mode: the user directory's hasOwnEntry (Ruleset.ownAddress). */
  ownAddress?: (address: string) => boolean;
}

export function loadRuleset(dirs: readonly string[], opts: RulesetOptions = {}): Ruleset {
  const raw = loadRuleFiles(dirs, RULES_SECTIONS);
  const symbols = new Map(Object.entries((raw.sections.get('symbols') ?? {}) as Record<string, SymbolDef>));
  const actions = (raw.sections.get('actions') ?? {}) as ActionsSection;
  const { subject_prefix, reject_reply, tempfail_reply, ...thresholds } = actions;
  // keys in the form the recipient is compared in (overridesFor): `bücher.example` and `"dave"@x` would never match
  const overrides: Record<string, Thresholds> = {};
  for (const [k, v] of Object.entries((raw.sections.get('overrides') ?? {}) as Record<string, Thresholds>)) {
    const key = overrideKey(k);
    overrides[key] = { ...overrides[key], ...v };
  }
  return Object.freeze({
    symbols,
    thresholds,
    subjectPrefix: subject_prefix ?? '***SPAM***',
    rejectReply: reject_reply ?? '554 5.7.1 Message rejected as spam',
    tempfailReply: tempfail_reply ?? '451 4.7.1 Message deferred, try again later',
    overrides,
    subaddressDelimiter: opts.subaddressDelimiter ?? '+',
    ...(opts.ownAddress ? { ownAddress: opts.ownAddress } : {}),
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

/**
 * The override keys that apply to one recipient, least specific first: its domain, its address without the
 * sub-address (`alice+tag@x` → `alice@x`, by the ruleset's delimiter; in full-stack mode not for an address that is a
 * user or alias of its own), the address as given. Compared lower-cased, in
 * the envelope's form (a needless quoting dropped, the domain as A-labels), so spamd and explain find what SMTP finds.
 */
export function overridesFor(ruleset: Ruleset, recipient?: string): string[] {
  if (!recipient) return [];
  // a source route (a milter's MTA may pass one on) is judged on its final mailbox, as the relay check judges it
  // and a final dot on the domain dropped, as the relay check and the mail host drop it
  const addr = canonicalMailbox(stripSourceRoute(recipient.trim()).address).toLowerCase().replace(/\.+$/, '');
  const at = addr.lastIndexOf('@');
  // as the mail host cuts: not an address that is a user or alias of its own (full-stack)
  const base = at > 0 && !ruleset.ownAddress?.(addr) ? withoutSubaddress(addr, ruleset.subaddressDelimiter.toLowerCase()) : undefined;
  const keys = [addr.slice(at + 1), ...(base !== undefined ? [base] : []), ...(at > 0 ? [addr] : [])];
  return keys.filter((k) => Object.hasOwn(ruleset.overrides, k));
}

/** An override key as overridesFor compares: lower-cased, a needless quoting dropped, the domain as A-labels without a final dot. */
function overrideKey(key: string): string {
  const k = key.trim();
  if (k.includes('@')) {
    const addr = canonicalMailbox(k).toLowerCase();
    return addr.endsWith('.') ? addr.replace(/\.+$/, '') : addr;
  }
  const d = k.toLowerCase().replace(/\.+$/, '');
  return domainToASCII(d) || d;
}

/** Thresholds for one recipient: the defaults, each override of overridesFor laid over them, the most specific last. */
export function thresholdsFor(ruleset: Ruleset, recipient?: string): Thresholds {
  const keys = overridesFor(ruleset, recipient);
  return keys.reduce<Thresholds>((t, k) => ({ ...t, ...ruleset.overrides[k] }), ruleset.thresholds);
}
