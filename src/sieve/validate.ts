// Sieve validator (RFC 5228 §2.6, §3–§5): turns the syntax tree into a compiled script, or lists every problem
// with its line and column: unknown commands, tests and tags, wrong arguments, extensions used without require.
import { normalizeMailbox } from '../store/maildir-names.ts';
import type { SieveProblem } from './errors.ts';
import { ADDRESS_PART_TAGS, INDEX_TAGS, MATCH_TAGS, readArguments, stringsOf, type ArgumentSpec, type ReadArguments } from './arguments.ts';
import type { SieveCommandNode, SieveTestNode } from './parser.ts';
import { VARIABLE_NAME, type Modifier } from './variables.ts';
import { isRedirectAddress, SUPPORTED_EXTENSIONS, type AddressPart, type BodyTransform, type Comparator, type CompiledScript, type Match, type SieveCommand, type SieveTest } from './script.ts';
import { BUILTIN_COMPARATORS, readMatch } from './match-args.ts';
import { readVacation } from './vacation-args.ts';
import { extraTest, indexOf, SPECIAL_USE, type TestHelpers } from './validate-extra.ts';

/** RFC 5173 §5: the body transforms, one at most. */
const BODY_TAGS = { raw: { group: 'transform' }, text: { group: 'transform' }, content: { group: 'transform', takesStrings: true } } as const;
/** RFC 5322 §3.6.8 field-name: printable ASCII but ':'. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

const COPY_TAG = { copy: { group: 'copy', extension: 'copy' } } as const;
/** RFC 5490 §3.2 :create, RFC 8579 §3 :specialuse. */
const FILEINTO_TAGS = { create: { group: 'create', extension: 'mailbox' }, specialuse: { group: 'specialuse', extension: 'special-use', takesStrings: true } } as const;
const FLAGS_TAG = { flags: { group: 'flags', extension: 'imap4flags', takesStrings: true } } as const;
/** RFC 5229 §4.1: modifiers of the same precedence exclude each other. */
const SET_TAGS = {
  lower: { group: 'case' },
  upper: { group: 'case' },
  lowerfirst: { group: 'first' },
  upperfirst: { group: 'first' },
  quotewildcard: { group: 'quote' },
  length: { group: 'length' },
} as const;

export function validateSieve(nodes: readonly SieveCommandNode[]): { script: CompiledScript; problems: SieveProblem[] } {
  const problems: SieveProblem[] = [];
  const required = new Set<string>();
  const extensions: string[] = [];
  const at = (n: { line: number; col: number }, message: string): void => {
    problems.push({ line: n.line, col: n.col, message });
  };
  const needs = (n: { line: number; col: number }, what: string, extension: string): void => {
    // RFC 5228 §3.2: an extension used without being required is an error
    if (!required.has(extension)) at(n, `${what} needs require "${extension}"`);
  };
  /** With "variables", a string holding "${" is only known at run time (checked there). */
  const dynamic = (text: string): boolean => required.has('variables') && text.includes('${');
  const args = (what: string, n: SieveCommandNode | SieveTestNode, spec: ArgumentSpec): ReadArguments => readArguments(what, n, spec, required, problems);

  const matchOf = (a: ReadArguments): Match => readMatch(a, required, problems);
  /** RFC 5232 §3, §5: the optional variable list of hasflag and the flag commands needs "variables"; names are identifiers. */
  const flagVariables = (n: SieveCommandNode | SieveTestNode, names: readonly string[]): string[] => {
    needs(n, `${n.name} with a variable name`, 'variables');
    for (const v of names) if (!VARIABLE_NAME.test(v)) at(n, `${n.name}: invalid variable name ${JSON.stringify(v)}`);
    return names.map((v) => v.toLowerCase());
  };
  /** Positional arguments given (tags and their values left out): hasflag and the flag commands take an optional first one. */
  const positionalCount = (n: SieveCommandNode | SieveTestNode): number => {
    let count = 0;
    for (let i = 0; i < n.args.length; i++) {
      const arg = n.args[i];
      if (arg?.kind === 'tag') {
        if ((arg.name === 'comparator' || arg.name === 'value' || arg.name === 'count') && n.args[i + 1]?.kind === 'strings') i++;
      } else count++;
    }
    return count;
  };
  const headerNames = (n: SieveTestNode, names: string[]): string[] => {
    // RFC 5228 §5: header names must be valid field names
    for (const h of names) if (!FIELD_NAME.test(h) && !dynamic(h)) at(n, `invalid header name ${JSON.stringify(h)}`);
    return names.map((h) => h.toLowerCase());
  };
  const noTests = (n: SieveCommandNode | SieveTestNode, what: string): void => {
    if (n.tests.length) at(n.tests[0] ?? n, `${what} takes no test`);
  };

  const helpers: TestHelpers = { at, needs, args, matchOf, headerNames, noTests, dynamic };
  const index = (a: ReadArguments): { index?: { n: number; last: boolean } } => {
    const i = indexOf(a, helpers);
    return i ? { index: i } : {};
  };

  const test = (n: SieveTestNode): SieveTest => {
    const fail = (message: string): SieveTest => {
      at(n, message);
      return { kind: 'false' };
    };
    switch (n.name) {
      case 'address': {
        noTests(n, 'address');
        const a = args('address', n, { tags: { ...MATCH_TAGS, ...ADDRESS_PART_TAGS, ...INDEX_TAGS }, positional: ['strings', 'strings'] });
        return { kind: 'address', ...matchOf(a), part: (a.tags.get('part')?.name ?? 'all') as AddressPart, headers: headerNames(n, stringsOf(a.positional[0])), keys: stringsOf(a.positional[1]), ...index(a) };
      }
      case 'envelope': {
        needs(n, 'envelope', 'envelope');
        noTests(n, 'envelope');
        const a = args('envelope', n, { tags: { ...MATCH_TAGS, ...ADDRESS_PART_TAGS }, positional: ['strings', 'strings'] });
        const fields: Array<'from' | 'to'> = [];
        for (const f of stringsOf(a.positional[0]).map((s) => s.toLowerCase())) {
          if (f === 'from' || f === 'to') fields.push(f);
          else at(n, `unsupported envelope part ${JSON.stringify(f)} ("from" and "to" are supported)`);
        }
        return { kind: 'envelope', ...matchOf(a), part: (a.tags.get('part')?.name ?? 'all') as AddressPart, fields, keys: stringsOf(a.positional[1]) };
      }
      case 'header': {
        noTests(n, 'header');
        const a = args('header', n, { tags: { ...MATCH_TAGS, ...INDEX_TAGS }, positional: ['strings', 'strings'] });
        return { kind: 'header', ...matchOf(a), headers: headerNames(n, stringsOf(a.positional[0])), keys: stringsOf(a.positional[1]), ...index(a) };
      }
      case 'hasflag': {
        needs(n, 'hasflag', 'imap4flags');
        noTests(n, 'hasflag');
        // RFC 5232 §5: hasflag [MATCH-TYPE] [COMPARATOR] [<variable-list>] <list-of-flags>
        const withVariables = positionalCount(n) >= 2;
        const a = args('hasflag', n, { tags: MATCH_TAGS, positional: withVariables ? ['strings', 'strings'] : ['strings'] });
        const variables = withVariables ? flagVariables(n, stringsOf(a.positional[0])) : [];
        return { kind: 'hasflag', ...matchOf(a), variables, keys: stringsOf(a.positional[withVariables ? 1 : 0]) };
      }
      case 'body': {
        needs(n, 'body', 'body');
        noTests(n, 'body');
        const a = args('body', n, { tags: { ...MATCH_TAGS, ...BODY_TAGS }, positional: ['strings'] });
        const t = a.tags.get('transform');
        let transform: BodyTransform = { kind: 'text' };
        if (t?.name === 'raw') transform = { kind: 'raw' };
        else if (t?.name === 'content') {
          const types = (t.values ?? []).map((v) => v.toLowerCase());
          // RFC 5173 §5.2: a type is "", a main type or type/subtype (no parameters)
          for (const v of types) if (!/^(?:[a-z0-9!#$&^_.+-]+(?:\/[a-z0-9!#$&^_.+-]+)?)?$/.test(v)) at(t, `body :content: invalid media type ${JSON.stringify(v)}`);
          transform = { kind: 'content', types };
        }
        return { kind: 'body', ...matchOf(a), transform, keys: stringsOf(a.positional[0]) };
      }
      case 'string': {
        needs(n, 'string', 'variables');
        noTests(n, 'string');
        const a = args('string', n, { tags: MATCH_TAGS, positional: ['strings', 'strings'] });
        return { kind: 'string', ...matchOf(a), sources: stringsOf(a.positional[0]), keys: stringsOf(a.positional[1]) };
      }
      case 'spamtest': {
        // RFC 5235 §3.2: spamtest [":percent"] [COMPARATOR] [MATCH-TYPE] <value: string>; "spamtestplus" brings the
        // test with :percent, so either extension allows the test, and :percent needs "spamtestplus"
        if (!required.has('spamtest') && !required.has('spamtestplus')) at(n, 'spamtest needs require "spamtest" (or "spamtestplus")');
        noTests(n, 'spamtest');
        const a = args('spamtest', n, { tags: { ...MATCH_TAGS, percent: { group: 'percent', extension: 'spamtestplus' } }, positional: ['string'] });
        return { kind: 'spamtest', ...matchOf(a), percent: a.tags.has('percent'), key: stringsOf(a.positional[0])[0] ?? '' };
      }
      case 'virustest': {
        // RFC 5235 §3.3: virustest [COMPARATOR] [MATCH-TYPE] <value: string>
        needs(n, 'virustest', 'virustest');
        noTests(n, 'virustest');
        const a = args('virustest', n, { tags: MATCH_TAGS, positional: ['string'] });
        return { kind: 'virustest', ...matchOf(a), key: stringsOf(a.positional[0])[0] ?? '' };
      }
      case 'exists': {
        noTests(n, 'exists');
        const a = args('exists', n, { tags: {}, positional: ['strings'] });
        return { kind: 'exists', headers: headerNames(n, stringsOf(a.positional[0])) };
      }
      case 'size': {
        noTests(n, 'size');
        const a = args('size', n, { tags: { over: { group: 'size' }, under: { group: 'size' } }, positional: ['number'] });
        const which = a.tags.get('size')?.name;
        if (which === undefined) at(n, 'size needs :over or :under');
        const limit = a.positional[0];
        return { kind: 'size', over: which !== 'under', limit: limit?.kind === 'number' ? limit.value : 0 };
      }
      case 'allof':
      case 'anyof': {
        args(n.name, n, { tags: {}, positional: [] });
        if (!n.tests.length) return fail(`${n.name} needs a list of tests`);
        return { kind: n.name, tests: n.tests.map(test) };
      }
      case 'not': {
        args('not', n, { tags: {}, positional: [] });
        if (n.tests.length !== 1) return fail('not takes exactly one test');
        return { kind: 'not', test: test(n.tests[0] as SieveTestNode) };
      }
      case 'true':
      case 'false':
        args(n.name, n, { tags: {}, positional: [] });
        noTests(n, n.name);
        return { kind: n.name };
      default:
        return extraTest(n, helpers) ?? fail(`unknown test "${n.name}"`);
    }
  };

  const flagsOf = (a: ReadArguments): { flags?: string[] } => {
    const f = a.tags.get('flags');
    return f ? { flags: f.values ?? [] } : {};
  };

  const block = (list: readonly SieveCommandNode[], top: boolean): SieveCommand[] => {
    const out: SieveCommand[] = [];
    let seenOther = false;
    for (const n of list) {
      const line = n.line;
      const blockCommand = n.name === 'if' || n.name === 'elsif' || n.name === 'else';
      if (blockCommand && !n.block) at(n, `${n.name} needs a block { … }`);
      if (!blockCommand && n.block) at(n, `${n.name} takes no block`);
      if (n.name !== 'if' && n.name !== 'elsif' && n.name !== 'else') noTests(n, n.name);
      if (n.name !== 'require') seenOther = true;
      switch (n.name) {
        case 'require': {
          // RFC 5228 §3.2: require only at the start of the script, before any other command
          if (!top || seenOther) at(n, 'require must come before any other command, at the top of the script');
          const a = args('require', n, { tags: {}, positional: ['strings'] });
          for (const ext of stringsOf(a.positional[0])) {
            const name = ext.toLowerCase();
            const comparator = name.startsWith('comparator-') && BUILTIN_COMPARATORS.includes(name.slice('comparator-'.length) as Comparator);
            // RFC 5228 §3.2: an extension this implementation does not support is an error
            if (!SUPPORTED_EXTENSIONS.includes(name) && !comparator) at(a.positional[0] ?? n, `unsupported extension "${ext}" (supported: ${SUPPORTED_EXTENSIONS.join(', ')})`);
            else {
              // RFC 6131 §2: "vacation-seconds" implies "vacation"
              for (const e of name === 'vacation-seconds' ? ['vacation', name] : [name]) {
                if (required.has(e)) continue;
                required.add(e);
                extensions.push(e);
              }
            }
          }
          break;
        }
        case 'if': {
          args('if', n, { tags: {}, positional: [] });
          if (n.tests.length !== 1) at(n, 'if takes exactly one test');
          const t = n.tests[0];
          out.push({ kind: 'if', branches: [{ ...(t ? { test: test(t) } : {}), body: block(n.block ?? [], false) }], line });
          break;
        }
        case 'elsif':
        case 'else': {
          const prev = out[out.length - 1];
          const open = prev?.kind === 'if' && prev.branches[prev.branches.length - 1]?.test !== undefined;
          if (!open) at(n, `${n.name} must follow if or elsif`);
          args(n.name, n, { tags: {}, positional: [] });
          if (n.name === 'elsif' && n.tests.length !== 1) at(n, 'elsif takes exactly one test');
          if (n.name === 'else' && n.tests.length) at(n, 'else takes no test');
          const t = n.name === 'elsif' ? n.tests[0] : undefined;
          const branch = { ...(t ? { test: test(t) } : {}), body: block(n.block ?? [], false) };
          if (open && prev?.kind === 'if') prev.branches.push(n.name === 'elsif' && !t ? { test: { kind: 'false' }, body: branch.body } : branch);
          break;
        }
        case 'stop':
        case 'discard':
          args(n.name, n, { tags: {}, positional: [] });
          out.push({ kind: n.name, line });
          break;
        case 'keep': {
          const a = args('keep', n, { tags: FLAGS_TAG, positional: [] });
          out.push({ kind: 'keep', ...flagsOf(a), line });
          break;
        }
        case 'redirect': {
          const a = args('redirect', n, { tags: COPY_TAG, positional: ['string'] });
          const address = stringsOf(a.positional[0])[0] ?? '';
          // RFC 5228 §4.2: the address must be syntactically valid
          if (a.positional[0] && !isRedirectAddress(address) && !dynamic(address)) at(a.positional[0], `redirect: invalid address ${JSON.stringify(address)}`);
          out.push({ kind: 'redirect', address, copy: a.tags.has('copy'), line });
          break;
        }
        case 'fileinto': {
          needs(n, 'fileinto', 'fileinto');
          const a = args('fileinto', n, { tags: { ...COPY_TAG, ...FLAGS_TAG, ...FILEINTO_TAGS }, positional: ['string'] });
          // RFC 8579 §3: :specialuse names one attribute
          const special = a.tags.get('specialuse');
          const specialUse = special ? ((special.values ?? [])[0] ?? '') : undefined;
          if (special && ((special.values ?? []).length !== 1 || (specialUse !== undefined && !SPECIAL_USE.test(specialUse) && !dynamic(specialUse)))) at(special, `fileinto :specialuse needs one special-use attribute such as "\\Junk", not ${JSON.stringify(specialUse)}`);
          let folder = stringsOf(a.positional[0])[0] ?? '';
          if (a.positional[0] && !dynamic(folder)) {
            try {
              folder = normalizeMailbox(folder);
            } catch (err) {
              at(a.positional[0], `fileinto: ${(err as Error).message}`);
            }
          }
          out.push({ kind: 'fileinto', folder, copy: a.tags.has('copy'), ...flagsOf(a), ...(a.tags.has('create') ? { create: true } : {}), ...(specialUse !== undefined ? { specialUse } : {}), line });
          break;
        }
        case 'setflag':
        case 'addflag':
        case 'removeflag': {
          needs(n, n.name, 'imap4flags');
          // RFC 5232 §3: setflag/addflag/removeflag [<variablename: string>] <list-of-flags: string-list>
          const withVariable = positionalCount(n) >= 2;
          const a = args(n.name, n, { tags: {}, positional: withVariable ? ['string', 'strings'] : ['strings'] });
          const variable = withVariable ? flagVariables(n, stringsOf(a.positional[0]))[0] : undefined;
          out.push({ kind: n.name, ...(variable !== undefined ? { variable } : {}), flags: stringsOf(a.positional[withVariable ? 1 : 0]), line });
          break;
        }
        case 'reject':
        case 'ereject': {
          needs(n, n.name, n.name);
          const a = args(n.name, n, { tags: {}, positional: ['string'] });
          out.push({ kind: 'reject', extended: n.name === 'ereject', reason: stringsOf(a.positional[0])[0] ?? '', line });
          break;
        }
        case 'vacation': {
          needs(n, 'vacation', 'vacation');
          out.push({ kind: 'vacation', ...readVacation(n, required, problems, dynamic), line });
          break;
        }
        case 'set': {
          needs(n, 'set', 'variables');
          const a = args('set', n, { tags: SET_TAGS, positional: ['string', 'string'] });
          const name = stringsOf(a.positional[0])[0] ?? '';
          // RFC 5229 §4: the name is a constant identifier
          if (a.positional[0] && !VARIABLE_NAME.test(name)) at(a.positional[0], `set: invalid variable name ${JSON.stringify(name)}`);
          const modifiers = [...a.tags.values()].map((t) => t.name as Modifier);
          out.push({ kind: 'set', name, value: stringsOf(a.positional[1])[0] ?? '', modifiers, line });
          break;
        }
        default:
          at(n, `unknown command "${n.name}"`);
      }
    }
    return out;
  };

  const commands = block(nodes, true);
  return { script: { extensions, commands }, problems: problems.sort((a, b) => a.line - b.line || a.col - b.col) };
}
