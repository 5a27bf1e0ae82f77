// Meta rule expressions: `A && (B || !C)`, counts as `A + B + C >= 2`. Symbols are 1 when hit, else 0.
export type MetaNode =
  | { kind: 'sym'; name: string }
  | { kind: 'num'; value: number }
  | { kind: 'not'; arg: MetaNode }
  | { kind: 'bin'; op: '&&' | '||' | '+' | '>=' | '>' | '<=' | '<' | '=='; left: MetaNode; right: MetaNode };

const TOKEN = /\s*(\d+|[A-Z][A-Z0-9_]*|&&|\|\||>=|<=|==|[!()+<>])/y;

function lex(text: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) return out;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) throw new Error(`unexpected ${JSON.stringify(text.slice(at).trim().slice(0, 10))} at column ${at + 1}`);
    out.push(m[1] ?? '');
  }
  throw new Error('expression too long');
}

/** Parses an expression; throws an Error naming the problem. */
export function parseMeta(text: string): MetaNode {
  const toks = lex(text);
  let i = 0;
  const peek = (): string | undefined => toks[i];
  const take = (): string => {
    const t = toks[i++];
    if (t === undefined) throw new Error('unexpected end of expression');
    return t;
  };
  const or = (): MetaNode => {
    let left = and();
    while (peek() === '||') left = { kind: 'bin', op: (take(), '||'), left, right: and() };
    return left;
  };
  const and = (): MetaNode => {
    let left = cmp();
    while (peek() === '&&') left = { kind: 'bin', op: (take(), '&&'), left, right: cmp() };
    return left;
  };
  const cmp = (): MetaNode => {
    const left = sum();
    const op = peek();
    if (op === '>=' || op === '>' || op === '<=' || op === '<' || op === '==') {
      take();
      return { kind: 'bin', op, left, right: sum() };
    }
    return left;
  };
  const sum = (): MetaNode => {
    let left = unary();
    while (peek() === '+') left = { kind: 'bin', op: (take(), '+'), left, right: unary() };
    return left;
  };
  const unary = (): MetaNode => {
    const t = take();
    if (t === '!') return { kind: 'not', arg: unary() };
    if (t === '(') {
      const inner = or();
      if (take() !== ')') throw new Error('expected )');
      return inner;
    }
    if (/^\d+$/.test(t)) return { kind: 'num', value: Number(t) };
    if (/^[A-Z]/.test(t)) return { kind: 'sym', name: t };
    throw new Error(`unexpected ${JSON.stringify(t)}`);
  };
  const node = or();
  if (i < toks.length) throw new Error(`unexpected ${JSON.stringify(toks[i])}`);
  return node;
}

export function metaSymbols(node: MetaNode, out: Set<string> = new Set()): Set<string> {
  if (node.kind === 'sym') out.add(node.name);
  else if (node.kind === 'not') metaSymbols(node.arg, out);
  else if (node.kind === 'bin') {
    metaSymbols(node.left, out);
    metaSymbols(node.right, out);
  }
  return out;
}

export function evalMeta(node: MetaNode, hit: (symbol: string) => boolean): number {
  switch (node.kind) {
    case 'sym':
      return hit(node.name) ? 1 : 0;
    case 'num':
      return node.value;
    case 'not':
      return evalMeta(node.arg, hit) ? 0 : 1;
    case 'bin': {
      const l = evalMeta(node.left, hit);
      if (node.op === '&&') return l && evalMeta(node.right, hit) ? 1 : 0;
      if (node.op === '||') return l || evalMeta(node.right, hit) ? 1 : 0;
      const r = evalMeta(node.right, hit);
      switch (node.op) {
        case '+': return l + r;
        case '>=': return l >= r ? 1 : 0;
        case '>': return l > r ? 1 : 0;
        case '<=': return l <= r ? 1 : 0;
        case '<': return l < r ? 1 : 0;
        case '==': return l === r ? 1 : 0;
      }
    }
  }
  return 0;
}
