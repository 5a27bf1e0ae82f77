// Content rule engine: compiles content_rules once, evaluates them on a parsed message; meta rules last.
import { ConfigError } from '../config/load.ts';
import type { SymbolHit } from '../checks/types.ts';
import { LinkList } from '../mime/links.ts';
import { redirectTargets, type Redirector } from './redirectors.ts';
import type { ParsedMail } from '../mime/parse.ts';
import type { SymbolDef } from '../scoring/rules-sections.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { evalMeta, metaSymbols, parseMeta, type MetaNode } from './meta-expr.ts';
import { locateContentRule } from './rule-origin.ts';
import { compileRegex, type ContentRule } from './rules-schema.ts';

type Matcher = (m: ParsedMail) => string | undefined;

export interface CompiledRule {
  symbol: string;
  type: ContentRule['type'];
  test: Matcher;
}

export interface CompiledMeta {
  symbol: string;
  node: MetaNode;
}

export interface ContentEngine {
  rules: readonly CompiledRule[];
  metas: readonly CompiledMeta[];
  /** Every symbol the engine can emit. */
  symbols: readonly string[];
  /** Meta symbols whose expression refers to a BAYES_ symbol, directly or through other meta rules. */
  bayesDerived: ReadonlySet<string>;
  /** Runs the non-meta rules. */
  match(mail: ParsedMail): SymbolHit[];
  /** Runs meta rules over the symbols hit so far, each after the meta rules it refers to. */
  matchMeta(hits: readonly SymbolHit[]): SymbolHit[];
}

/** Symbol definitions carried by content rules, to merge into the ruleset's symbols. */
export function contentRuleSymbols(rules: readonly ContentRule[]): Map<string, SymbolDef> {
  const out = new Map<string, SymbolDef>();
  for (const r of rules) out.set(r.symbol, { weight: r.weight, description: r.description });
  return out;
}

/**
 * One rule per symbol: a later definition (a later file in rules_dirs, or further down) replaces an earlier
 * one, so a user's rules directory can retune a shipped rule by redefining its symbol.
 */
export function effectiveRules(rules: readonly ContentRule[]): ContentRule[] {
  const last = new Map<string, ContentRule>();
  for (const r of rules) {
    last.delete(r.symbol);
    last.set(r.symbol, r);
  }
  return [...last.values()];
}

/** The ruleset with content rules' symbols added (symbols: entries win). */
export function withContentSymbols(ruleset: Ruleset): Ruleset {
  const rules = ruleset.section<ContentRule[]>('content_rules') ?? [];
  if (rules.length === 0) return ruleset;
  const symbols = new Map(contentRuleSymbols(rules));
  for (const [k, v] of ruleset.symbols) symbols.set(k, v);
  return Object.freeze({ ...ruleset, symbols, section: ruleset.section });
}

const snippet = (s: string, i: number, len: number): string => s.slice(Math.max(0, i), i + Math.min(len, 40)).replace(/[\s,;[\]()]+/g, ' ').trim();

function regexMatcher(re: RegExp, pick: (m: ParsedMail) => readonly string[]): Matcher {
  return (mail) => {
    for (const text of pick(mail)) {
      const m = re.exec(text);
      if (m) return snippet(text, m.index, m[0].length);
    }
    return undefined;
  };
}

function headerValues(mail: ParsedMail, name: string): string[] {
  if (name.toUpperCase() === 'ALL') return [mail.headers.map((h) => `${h.name}: ${h.value}`).join('\n')];
  const lower = name.toLowerCase();
  return mail.headers.filter((h) => h.name.toLowerCase() === lower).map((h) => h.value);
}

/** Links of a message unwrapped through open redirectors at most this often (uri-subjects.ts bounds the lists' alike). */
const MAX_UNWRAPPED = 200;

/** Where uri rules look for open redirectors: the `uribl:` section's list and depth (none: links as they are). */
export interface UriRuleRedirects {
  redirectors: readonly Redirector[];
  depth: number;
}

/**
 * The links uri rules match, once per message: each link, then the targets of an open redirector it goes through
 * (`https://www.google.com/url?q=https://evil.example/` gives both), as SpamAssassin's uri rules see them.
 */
function uriLister(redirects: UriRuleRedirects | undefined): (mail: ParsedMail) => string[] {
  const cache = new WeakMap<ParsedMail, string[]>();
  return (mail) => {
    let list = cache.get(mail);
    if (list) return list;
    list = collectUris(mail);
    if (redirects && redirects.redirectors.length && redirects.depth > 0) {
      const withTargets: string[] = [];
      let unwrapped = 0;
      for (const uri of list) {
        withTargets.push(uri);
        if (unwrapped >= MAX_UNWRAPPED) continue;
        const targets = redirectTargets(uri, redirects.redirectors, redirects.depth);
        if (targets.length) unwrapped++;
        withTargets.push(...targets);
      }
      list = withTargets;
    }
    cache.set(mail, list);
    return list;
  };
}

const URL_IN_TEXT = /\b(?:https?|ftp):\/\/[^\s<>"'()]{1,500}|\bwww\.[a-z0-9-]+\.[^\s<>"'()]{1,500}/gi;

/** A link target that leads to a web host, as a browser takes it; undefined for mailto:, cid:, relative paths. */
export function webLink(l: string): string | undefined {
  if (/^(?:https?|ftp):|^www\./i.test(l)) return l;
  // protocol-relative ("//host/path"): a webmail page follows it over its own scheme
  return /^[/\\]{2}[^/\\]/.test(l) ? `http:${l}` : undefined;
}

/** Hrefs, then URLs in the text, without repeats; bounded as links.ts bounds them (a host past the padding counts). */
export function collectUris(mail: ParsedMail): string[] {
  const list = new LinkList(500);
  for (const l of mail.links) {
    const web = webLink(l);
    if (web !== undefined) list.add(web);
  }
  for (const text of [mail.text, mail.htmlText]) {
    for (const m of text.matchAll(URL_IN_TEXT)) {
      if (list.full) break;
      list.add(m[0]);
    }
  }
  return list.items;
}

export function uriHost(uri: string): string {
  // WHATWG URL: browsers read "\" as "/" in http(s) URLs, so "https://evil.example\.brand.com/" goes to evil.example
  const m = /^(?:[a-z][a-z0-9+.-]*:[/\\]{2})?(?:[^@/\\?#]*@)?([^/\\?#:\s]+)/i.exec(uri);
  return (m?.[1] ?? '').toLowerCase().replace(/\.$/, '');
}

function mimeMatcher(r: Extract<ContentRule, { type: 'mime' }>): Matcher {
  const types = (r.attachment_types ?? []).map((t) => t.toLowerCase());
  return (mail) => {
    if (r.only_html !== undefined) {
      const hasHtml = mail.parts.some((p) => p.type === 'text/html' && p.disposition !== 'attachment');
      const hasText = mail.parts.some((p) => p.type === 'text/plain' && p.disposition !== 'attachment' && !p.filename);
      if ((hasHtml && !hasText) !== r.only_html) return undefined;
    }
    if (r.min_parts !== undefined && mail.parts.length < r.min_parts) return undefined;
    if (r.malformed !== undefined && (mail.problems.some((p) => p !== 'truncated') !== r.malformed)) return undefined;
    if (types.length) {
      const found = mail.parts.find((p) => {
        const ext = p.filename ? (/\.[a-z0-9]{1,10}$/i.exec(p.filename)?.[0] ?? '').toLowerCase() : '';
        return types.some((t) => (t.startsWith('.') ? ext === t : p.type === t));
      });
      if (!found) return undefined;
      return found.filename ?? found.type;
    }
    return 'match';
  };
}

function compileRule(r: Exclude<ContentRule, { type: 'meta' }>, uriList: (mail: ParsedMail) => string[]): Matcher {
  switch (r.type) {
    case 'header':
      if (r.exists !== undefined) {
        const want = r.exists;
        return (m) => ((headerValues(m, r.header).length > 0) === want ? r.header : undefined);
      }
      return regexMatcher(compileRegex(r.regex ?? ''), (m) => headerValues(m, r.header));
    case 'body':
      return regexMatcher(compileRegex(r.regex), (m) => [m.subject, m.text, m.htmlText]);
    case 'rawbody':
      return regexMatcher(compileRegex(r.regex), (m) => [m.rawBody]);
    case 'full':
      return regexMatcher(compileRegex(r.regex), (m) => [m.raw]);
    case 'uri': {
      const re = compileRegex(r.regex);
      return r.match === 'host' ? regexMatcher(re, (m) => uriList(m).map(uriHost)) : regexMatcher(re, uriList);
    }
    case 'mime':
      return mimeMatcher(r);
  }
}

/**
 * Compiles rules (the last definition of a symbol wins). A meta expression naming an unknown symbol, or
 * meta rules that refer to each other in a cycle, are errors naming the rule's file and line (`files`:
 * the rules files, to find it).
 */
export function compileContentRules(all: readonly ContentRule[], known: ReadonlySet<string>, files: readonly string[] = [], redirects?: UriRuleRedirects): ContentEngine {
  const rules = effectiveRules(all);
  const uriList = uriLister(redirects);
  const compiled: CompiledRule[] = [];
  const parsed = new Map<string, MetaNode>();
  const problems: string[] = [];
  const own = new Set(rules.map((r) => r.symbol));
  for (const r of rules) {
    if (r.type === 'meta') {
      const node = parseMeta(r.expr);
      for (const s of metaSymbols(node)) {
        if (!known.has(s) && !own.has(s)) problems.push(`${locateContentRule(files, r.symbol, 'expr')}: meta expression refers to unknown symbol ${s}`);
      }
      parsed.set(r.symbol, node);
    } else compiled.push({ symbol: r.symbol, type: r.type, test: compileRule(r, uriList) });
  }
  const metas = orderMetas(parsed, (symbol, cycle) => problems.push(`${locateContentRule(files, symbol, 'expr')}: meta rules refer to each other in a cycle: ${cycle.join(' -> ')}`));
  if (problems.length) throw new ConfigError(problems);
  const bayesDerived = new Set<string>();
  for (const meta of metas) // dependencies first
    if ([...metaSymbols(meta.node)].some((s) => s.startsWith('BAYES_') || bayesDerived.has(s))) bayesDerived.add(meta.symbol);
  return {
    rules: compiled,
    metas,
    symbols: [...own],
    bayesDerived,
    match(mail) {
      const hits: SymbolHit[] = [];
      for (const rule of compiled) {
        let opt: string | undefined;
        try {
          opt = rule.test(mail);
        } catch {
          opt = undefined;
        }
        if (opt !== undefined) hits.push({ symbol: rule.symbol, options: opt === 'match' || opt === '' ? [] : [opt] });
      }
      return hits;
    },
    matchMeta(prior) {
      const seen = new Set(prior.map((h) => h.symbol));
      const hits: SymbolHit[] = [];
      for (const meta of metas) {
        if (evalMeta(meta.node, (s) => seen.has(s))) {
          hits.push({ symbol: meta.symbol });
          seen.add(meta.symbol);
        }
      }
      return hits;
    },
  };
}

/** Meta rules ordered so that each comes after the meta rules its expression refers to (depth first). */
function orderMetas(parsed: ReadonlyMap<string, MetaNode>, onCycle: (symbol: string, cycle: string[]) => void): CompiledMeta[] {
  const out: CompiledMeta[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (symbol: string, path: string[]): void => {
    const node = parsed.get(symbol);
    if (!node || state.get(symbol) === 'done') return;
    if (state.get(symbol) === 'visiting') {
      onCycle(symbol, [...path.slice(path.indexOf(symbol)), symbol]);
      return;
    }
    state.set(symbol, 'visiting');
    for (const dep of metaSymbols(node)) visit(dep, [...path, symbol]);
    state.set(symbol, 'done');
    out.push({ symbol, node });
  };
  for (const symbol of parsed.keys()) visit(symbol, []);
  return out;
}
