// The commands of an authenticated ManageSieve session (RFC 5804 §2.3-§2.12): each answered from the user's
// script store, names checked (§1.6) before the store makes any path of them, scripts compiled before they are kept.
import { checkScriptName, type SieveStore } from '../mailhost/sieve-store.ts';
import { compileSieve } from '../sieve/compile.ts';
import { formatProblem } from '../sieve/errors.ts';
import type { ManageSieveLimits } from './context.ts';
import { wireString, type Token } from './reader.ts';

/** A final reply (with any lines before it), CRLF-terminated lines joined. */
export type Reply = string;

export const ok = (text?: string, code?: string): Reply => `OK${code ? ` (${code})` : ''}${text !== undefined ? ` ${wireString(text)}` : ''}`;
export const no = (text: string, code?: string): Reply => `NO${code ? ` (${code})` : ''} ${wireString(text)}`;

/** The string arguments of a command, exactly `n` of them; undefined when the shape is wrong. */
export function strings(args: readonly Token[], n: number): string[] | undefined {
  if (args.length !== n || args.some((a) => a.kind !== 'string')) return undefined;
  return args.map((a) => a.value);
}

/** RFC 5804 §2.6: a script that does not compile is refused with the problems, each at line:col. */
function compileProblems(text: string): string | undefined {
  const r = compileSieve(text);
  return r.ok ? undefined : r.problems.slice(0, 5).map(formatProblem).join('; ');
}

/** The one script name argument of a command, checked (RFC 5804 §1.6); the refusal otherwise. */
function oneName(args: readonly Token[], cmd: string): string | { reply: Reply } {
  const a = strings(args, 1);
  if (!a) return { reply: no(`usage: ${cmd} name`) };
  const name = a[0] ?? '';
  const c = checkScriptName(name);
  return c.ok ? name : { reply: no(c.reason) };
}

export function scriptCommand(store: SieveStore, user: string, limits: ManageSieveLimits, cmd: string, args: readonly Token[]): Reply {
  const badName = (...names: string[]): Reply | undefined => {
    for (const n of names) {
      const c = checkScriptName(n);
      if (!c.ok) return no(c.reason);
    }
    return undefined;
  };
  /** QUOTA/MAXSCRIPTS when `name` would be one script too many; QUOTA/MAXSIZE past the size bound (§1.3). */
  const overQuota = (name: string, bytes: number): Reply | undefined => {
    if (bytes > limits.maxScriptSize) return no(`script larger than ${limits.maxScriptSize} octets`, 'QUOTA/MAXSIZE');
    const list = store.list(user);
    if (!list.some((s) => s.name === name) && list.length >= limits.maxScripts) return no(`at most ${limits.maxScripts} scripts`, 'QUOTA/MAXSCRIPTS');
    return undefined;
  };
  switch (cmd) {
    case 'HAVESPACE': {
      const [name, size] = args;
      if (args.length !== 2 || name?.kind !== 'string' || size?.kind !== 'atom' || !/^\d{1,10}$/.test(size.value)) return no('usage: HAVESPACE name size');
      return badName(name.value) ?? overQuota(name.value, Number(size.value)) ?? ok();
    }
    case 'PUTSCRIPT': {
      const a = strings(args, 2);
      if (!a) return no('usage: PUTSCRIPT name {size+} script');
      const [name, text] = a as [string, string];
      const refused = badName(name) ?? overQuota(name, Buffer.byteLength(text, 'utf8'));
      if (refused) return refused;
      const problems = compileProblems(text);
      if (problems !== undefined) return no(problems);
      store.put(user, name, text);
      return ok();
    }
    case 'CHECKSCRIPT': {
      const a = strings(args, 1);
      if (!a) return no('usage: CHECKSCRIPT {size+} script');
      const text = a[0] ?? '';
      if (Buffer.byteLength(text, 'utf8') > limits.maxScriptSize) return no(`script larger than ${limits.maxScriptSize} octets`, 'QUOTA/MAXSIZE');
      const problems = compileProblems(text);
      return problems === undefined ? ok() : no(problems);
    }
    case 'LISTSCRIPTS': {
      if (args.length) return no('LISTSCRIPTS takes no arguments');
      const lines = store.list(user).map((s) => `${wireString(s.name)}${s.active ? ' ACTIVE' : ''}`);
      return [...lines, ok()].join('\r\n');
    }
    case 'SETACTIVE': {
      const a = strings(args, 1);
      if (!a) return no('usage: SETACTIVE name');
      const name = a[0] ?? '';
      if (name !== '') {
        const bad = badName(name);
        if (bad) return bad;
      }
      return store.setActive(user, name) === 'ok' ? ok() : no('no such script', 'NONEXISTENT');
    }
    case 'GETSCRIPT': {
      const name = oneName(args, cmd);
      if (typeof name !== 'string') return name.reply;
      const text = store.get(user, name);
      // RFC 5804 §2.9: the script is sent as a literal
      return text === undefined ? no('no such script', 'NONEXISTENT') : `{${Buffer.byteLength(text, 'utf8')}}\r\n${text}\r\n${ok()}`;
    }
    case 'DELETESCRIPT': {
      const name = oneName(args, cmd);
      if (typeof name !== 'string') return name.reply;
      const r = store.remove(user, name);
      // RFC 5804 §2.10: the active script MUST NOT be deleted
      if (r === 'active') return no('the active script cannot be deleted; deactivate it first', 'ACTIVE');
      return r === 'ok' ? ok() : no('no such script', 'NONEXISTENT');
    }
    case 'RENAMESCRIPT': {
      const a = strings(args, 2);
      if (!a) return no('usage: RENAMESCRIPT old new');
      const [from, to] = a as [string, string];
      const bad = badName(from, to);
      if (bad) return bad;
      const r = store.rename(user, from, to);
      if (r === 'nonexistent') return no('no such script', 'NONEXISTENT');
      if (r === 'alreadyexists') return no('a script of that name exists', 'ALREADYEXISTS');
      return ok();
    }
    default:
      return no(`unknown command ${cmd}`);
  }
}
