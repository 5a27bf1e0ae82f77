// Alias tables and recipient expansion: one-to-many, many-to-one, sub-addressing, catch-all, postmaster, loop and depth limits.
import type { RecipientResolution } from './types.ts';

/** Keys are lower-cased `local@domain` or `@domain` (catch-all); targets are full addresses. */
export type AliasTable = ReadonlyMap<string, readonly string[]>;

export interface ExpansionContext {
  /** Canonical user names (lower-cased addresses). */
  hasUser(name: string): boolean;
  aliases: AliasTable;
  isLocalDomain(domain: string): boolean;
  /** Domain used for a bare "postmaster" (RFC 5321 §4.5.1). */
  primaryDomain: string;
  /** '' turns sub-addressing off. */
  delimiter: string;
  maxDepth: number;
  /** Where postmaster@<local domain> goes when no user or alias of that name exists. */
  postmaster?: string;
}

export interface SplitAddress {
  local: string;
  domain: string;
}

/** Splits at the last '@'; a bare "postmaster" gets the primary domain. Domains and local parts are lower-cased. */
export function splitAddress(address: string, primaryDomain: string): SplitAddress | undefined {
  const a = address.trim().replace(/^<(.*)>$/, '$1');
  const at = a.lastIndexOf('@');
  if (at < 0) return a.toLowerCase() === 'postmaster' ? { local: 'postmaster', domain: primaryDomain } : undefined;
  const local = a.slice(0, at);
  const domain = a.slice(at + 1).toLowerCase().replace(/\.$/, '');
  if (!local || !domain) return undefined;
  return { local: local.toLowerCase(), domain };
}

type Lookup = { kind: 'alias'; key: string; targets: readonly string[]; catchAll: boolean } | { kind: 'user'; name: string } | { kind: 'none' };

/** How one local address is found: exact alias, user, sub-address base, postmaster, then the domain's catch-all. */
function lookupLocal(local: string, domain: string, ctx: ExpansionContext, allowCatchAll: boolean): Lookup {
  const key = `${local}@${domain}`;
  const exact = ctx.aliases.get(key);
  if (exact) return { kind: 'alias', key, targets: exact, catchAll: false };
  if (ctx.hasUser(key)) return { kind: 'user', name: key };
  if (ctx.delimiter && local.includes(ctx.delimiter)) {
    const base = local.slice(0, local.indexOf(ctx.delimiter));
    if (base) {
      const baseKey = `${base}@${domain}`;
      const alias = ctx.aliases.get(baseKey);
      if (alias) return { kind: 'alias', key: baseKey, targets: alias, catchAll: false };
      if (ctx.hasUser(baseKey)) return { kind: 'user', name: baseKey };
    }
  }
  // RFC 5321 §4.5.1: postmaster (any case) MUST be accepted for every domain we are the destination of.
  if (local === 'postmaster' && ctx.postmaster) return { kind: 'alias', key, targets: [ctx.postmaster], catchAll: false };
  const catchAll = allowCatchAll ? ctx.aliases.get(`@${domain}`) : undefined;
  if (catchAll) return { kind: 'alias', key: `@${domain}`, targets: catchAll, catchAll: true };
  return { kind: 'none' };
}

/** Addresses looked at while expanding one recipient, all levels together. */
export const MAX_EXPANSION_VISITS = 10_000;

export interface Expansion {
  resolution: RecipientResolution;
  /** Local targets inside aliases that lead nowhere (skipped, logged by the caller). */
  dangling: string[];
}

/** Expands a recipient address; duplicates (many-to-one) collapse to one mailbox each. */
export function expandAddress(address: string, ctx: ExpansionContext, opts: { allowCatchAll?: boolean } = {}): Expansion {
  const allowCatchAll = opts.allowCatchAll ?? true;
  const start = splitAddress(address, ctx.primaryDomain);
  if (!start) return { resolution: { kind: 'unknown' }, dangling: [] };
  if (!ctx.isLocalDomain(start.domain)) return { resolution: { kind: 'remote' }, dangling: [] };
  const mailboxes = new Set<string>();
  const remote = new Set<string>();
  const dangling: string[] = [];
  let loop: string | undefined;
  let visits = 0;
  const expanded = new Set<string>();

  // Bounded: depth is capped by maxDepth, each alias is expanded once (a lattice of aliases sharing
  // members would otherwise be walked once per path: exponential), and all by MAX_EXPANSION_VISITS.
  const visit = (local: string, domain: string, rawTarget: string, depth: number, chain: readonly string[]): 'ok' | 'none' => {
    if (loop !== undefined) return 'ok';
    if (++visits > MAX_EXPANSION_VISITS) {
      loop = `alias expansion of ${address} takes more than ${MAX_EXPANSION_VISITS} steps`;
      return 'ok';
    }
    if (depth > ctx.maxDepth) {
      loop = `alias nesting deeper than ${ctx.maxDepth}: ${[...chain, `${local}@${domain}`].join(' → ')}`;
      return 'ok';
    }
    if (!ctx.isLocalDomain(domain)) {
      remote.add(rawTarget);
      return 'ok';
    }
    const found = lookupLocal(local, domain, ctx, allowCatchAll || depth > 0);
    if (found.kind === 'none') return 'none';
    if (found.kind === 'user') {
      mailboxes.add(found.name);
      return 'ok';
    }
    if (chain.includes(found.key)) {
      loop = `alias loop: ${[...chain, found.key].join(' → ')}`;
      return 'ok';
    }
    // Already expanded through another path: its members are in the sets (a loop below it was found then).
    if (expanded.has(found.key)) return 'ok';
    const next = [...chain, found.key];
    for (const target of found.targets) {
      const t = splitAddress(target.includes('@') ? target : `${target}@${domain}`, ctx.primaryDomain);
      if (!t) {
        dangling.push(target);
        continue;
      }
      const tKey = `${t.local}@${t.domain}`;
      // `alice@x: [alice@x, bob@x]` keeps a copy in alice's own mailbox: a self-reference is the mailbox, not a loop.
      if (tKey === found.key && ctx.hasUser(tKey)) {
        mailboxes.add(tKey);
        continue;
      }
      if (visit(t.local, t.domain, target, depth + 1, next) === 'none') dangling.push(target);
    }
    expanded.add(found.key);
    return 'ok';
  };

  const top = visit(start.local, start.domain, address, 0, []);
  if (loop !== undefined) return { resolution: { kind: 'loop', detail: loop }, dangling };
  if (top === 'none' || (mailboxes.size === 0 && remote.size === 0)) return { resolution: { kind: 'unknown' }, dangling };
  return { resolution: { kind: 'local', mailboxes: [...mailboxes], remote: [...remote] }, dangling };
}

export type AliasParse = { table: Map<string, string[]>; problems: string[] };

/** Validates raw alias entries (config section or aliases file) into a table; `where` prefixes each problem. */
export function buildAliasTable(raw: Record<string, string | string[]>, isLocalDomain: (d: string) => boolean, where: string): AliasParse {
  const table = new Map<string, string[]>();
  const problems: string[] = [];
  for (const [rawKey, value] of Object.entries(raw)) {
    const key = rawKey.trim().toLowerCase();
    const at = key.lastIndexOf('@');
    const local = key.slice(0, at);
    const domain = key.slice(at + 1);
    if (at < 0 || !domain || /[\s<>]/.test(key)) {
      problems.push(`${where}: aliases.${rawKey}: expected local@domain or @domain (catch-all)`);
      continue;
    }
    if (!isLocalDomain(domain)) {
      problems.push(`${where}: aliases.${rawKey}: domain ${domain} is not in local_domains`);
      continue;
    }
    if (local === '' && key !== `@${domain}`) continue;
    const targets = (Array.isArray(value) ? value : [value]).map((t) => t.trim());
    const bad = targets.filter((t) => !/^[^\s@<>]+(@[A-Za-z0-9.-]+)?$/.test(t));
    if (bad.length) {
      problems.push(`${where}: aliases.${rawKey}: invalid target ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
      continue;
    }
    table.set(key, targets);
  }
  return { table, problems };
}
