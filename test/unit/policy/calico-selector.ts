// Calico's label selector language, parsed and evaluated for the tests from the Calico reference
// (projectcalico.org/v3, "Selectors"), independent of the compiler: `k == 'v'`, `k != 'v'`,
// `k in {'a', 'b'}`, `k not in {...}`, `has(k)`, `!expr`, `all()`, `global()`, `&&`, `||` and
// parentheses. `!=` and `not in` also hold where the label is absent. Throws on anything else.

export type SelectorFn = (labels: Readonly<Record<string, string>>) => boolean;

const TOKEN = /\s*(==|!=|&&|\|\||!|\(|\)|\{|\}|,|'[^']*'|"[^"]*"|[A-Za-z0-9_./-]+)/y;

function tokenize(text: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(text);
    if (m === null) throw new Error(`selector ${JSON.stringify(text)}: cannot read at ${at}`);
    out.push(m[1] as string);
    at = TOKEN.lastIndex;
  }
  return out;
}

export function parseSelector(text: string): SelectorFn {
  const tokens = tokenize(text);
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const next = (): string => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`selector ${JSON.stringify(text)}: ends too early`);
    return t;
  };
  const expect = (t: string): void => {
    const got = next();
    if (got !== t) throw new Error(`selector ${JSON.stringify(text)}: expected ${t}, got ${got}`);
  };
  const str = (): string => {
    const t = next();
    if (!/^('.*'|".*")$/.test(t)) throw new Error(`selector ${JSON.stringify(text)}: expected a quoted value, got ${t}`);
    return t.slice(1, -1);
  };
  const values = (): Set<string> => {
    expect('{');
    const out = new Set<string>();
    if (peek() === '}') {
      next();
      return out;
    }
    for (;;) {
      out.add(str());
      const t = next();
      if (t === '}') return out;
      if (t !== ',') throw new Error(`selector ${JSON.stringify(text)}: expected , or }`);
    }
  };
  const key = (): string => {
    const t = next();
    if (!/^[A-Za-z0-9_./-]+$/.test(t)) throw new Error(`selector ${JSON.stringify(text)}: expected a label key, got ${t}`);
    return t;
  };
  const unary = (): SelectorFn => {
    const t = next();
    if (t === '!') {
      const inner = unary();
      return (l) => !inner(l);
    }
    if (t === '(') {
      const inner = or();
      expect(')');
      return inner;
    }
    if ((t === 'all' || t === 'global') && peek() === '(') {
      expect('(');
      expect(')');
      return () => true;
    }
    if (t === 'has' && peek() === '(') {
      expect('(');
      const k = key();
      expect(')');
      return (l) => l[k] !== undefined;
    }
    i--;
    const k = key();
    const op = next();
    if (op === '==') {
      const v = str();
      return (l) => l[k] === v;
    }
    if (op === '!=') {
      const v = str();
      return (l) => l[k] !== v;
    }
    if (op === 'in') {
      const vs = values();
      return (l) => l[k] !== undefined && vs.has(l[k]);
    }
    if (op === 'not') {
      expect('in');
      const vs = values();
      return (l) => l[k] === undefined || !vs.has(l[k]);
    }
    throw new Error(`selector ${JSON.stringify(text)}: unknown operator ${op}`);
  };
  const and = (): SelectorFn => {
    let left = unary();
    while (peek() === '&&') {
      next();
      const a = left;
      const b = unary();
      left = (l) => a(l) && b(l);
    }
    return left;
  };
  function or(): SelectorFn {
    let left = and();
    while (peek() === '||') {
      next();
      const a = left;
      const b = and();
      left = (l) => a(l) || b(l);
    }
    return left;
  }
  const fn = or();
  if (i !== tokens.length) throw new Error(`selector ${JSON.stringify(text)}: unexpected ${tokens[i] ?? ''}`);
  return fn;
}
