/**
 * The rule condition language: a small expression language with the Symbiont DSL's syntax and precedence
 * (lowest first: `||`, `&&`, `== != in`, `< > <= >=`, `+ -`, `* / %`, unary `! not -`, postfix `.name` `[i]`),
 * compiled once into closures over an `EvalInput`. Names are checked at compile time, so a typo is a
 * POLICY_INVALID with its position rather than a rule that silently never matches.
 *
 * Values are strings, numbers, booleans, null, lists and records. Comparisons between mismatched types are
 * false (never an error at evaluation time), a missing field is null, and a rule matches only when its
 * condition evaluates to exactly `true`. Evaluation is pure, so any part whose inputs are all known at
 * compile time is folded into a constant: literals always, and the agent's own fields when a condition is
 * specialised for one agent and action (`specializeCondition`).
 *
 * @example
 * const cond = compileCondition('tier >= Tier2 && "Network" in capabilities');
 * cond(input); // true or false
 */
import { tokenize, type Token } from "./condition-lexer.js";
import { PolicySyntaxError } from "./errors.js";
import type { EvalInput } from "./input.js";
import { globToRegExp } from "./pattern.js";

export type Value = string | number | boolean | null | readonly Value[] | { readonly [k: string]: Value };
export type Evaluator = (input: EvalInput) => Value;

interface Root {
  readonly get: Evaluator;
  /** Fields resolved at compile time, so `time.hour` does not build a record per evaluation. */
  readonly fields?: Readonly<Record<string, Evaluator>>;
}

const utc = (i: EvalInput) => new Date(i.now);

/** The names a condition can use. Documented in the README's policy section. */
const ROOTS: Readonly<Record<string, Root>> = {
  action: { get: (i) => i.action },
  operation: { get: (i) => i.action },
  resource: { get: (i) => i.resource },
  tier: { get: (i) => i.tier },
  capabilities: { get: (i) => i.capabilities as Value },
  metadata: { get: (i) => i.metadata as Value },
  resources: { get: (i) => (i.resources ?? {}) as Value },
  isolation: { get: (i) => i.isolation },
  context: { get: (i) => i.context as Value },
  agent: {
    get: (i) => ({ id: i.agentId, name: i.agentName, tier: i.tier, capabilities: i.capabilities as Value, metadata: i.metadata as Value }),
    fields: {
      id: (i) => i.agentId,
      name: (i) => i.agentName,
      tier: (i) => i.tier,
      capabilities: (i) => i.capabilities as Value,
      metadata: (i) => i.metadata as Value,
    },
  },
  time: {
    get: (i) => {
      const d = utc(i);
      return { now: i.now, hour: d.getUTCHours(), minute: d.getUTCMinutes(), weekday: d.getUTCDay(), day: d.getUTCDate(), month: d.getUTCMonth() + 1, year: d.getUTCFullYear() };
    },
    fields: {
      now: (i) => i.now,
      // Plain arithmetic on epoch ms (UTC has no offsets), so the common fields allocate nothing.
      hour: (i) => Math.floor(i.now / 3_600_000) % 24,
      minute: (i) => Math.floor(i.now / 60_000) % 60,
      weekday: (i) => (Math.floor(i.now / 86_400_000) + 4) % 7,
      day: (i) => utc(i).getUTCDate(),
      month: (i) => utc(i).getUTCMonth() + 1,
      year: (i) => utc(i).getUTCFullYear(),
    },
  },
};

/** Roots fixed for one agent's decisions on one action: what `specializeCondition` folds. */
const FIXED_ROOTS: ReadonlySet<string> = new Set(["action", "operation", "tier", "capabilities", "metadata", "resources"]);
const FIXED_AGENT_FIELDS: ReadonlySet<string> = new Set(["name", "tier", "capabilities", "metadata"]);

const CONSTANTS: Readonly<Record<string, Value>> = { true: true, false: false, null: null, Tier0: 0, Tier1: 1, Tier2: 2, Tier3: 3 };

/** Every top-level name a condition may use (the agent DSL maps its other names under `context`). */
export const CONDITION_NAMES: ReadonlySet<string> = new Set([...Object.keys(ROOTS), ...Object.keys(CONSTANTS)]);

function field(v: Value, key: Value): Value {
  if (v === null || typeof v !== "object") return null;
  if (Array.isArray(v)) return typeof key === "number" && Number.isInteger(key) ? ((v[key] as Value | undefined) ?? null) : null;
  if (typeof key !== "string" || !Object.hasOwn(v, key)) return null;
  return (v as Record<string, Value>)[key] ?? null;
}

function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, k) => equal(x, b[k] as Value));
  return false;
}

function contains(haystack: Value, needle: Value): boolean {
  if (Array.isArray(haystack)) return haystack.some((x) => equal(x, needle));
  if (typeof haystack === "string") return typeof needle === "string" && haystack.includes(needle);
  if (haystack !== null && typeof haystack === "object") return typeof needle === "string" && Object.hasOwn(haystack, needle);
  return false;
}

function ordered(a: Value, b: Value): boolean {
  return (typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string");
}

const num = (f: (a: number, b: number) => number) => (a: Value, b: Value): Value =>
  typeof a === "number" && typeof b === "number" ? (Number.isFinite(f(a, b)) ? f(a, b) : null) : null;

const BINARY: Readonly<Record<string, (a: Value, b: Value) => Value>> = {
  "==": equal,
  "!=": (a, b) => !equal(a, b),
  in: (a, b) => contains(b, a),
  "<": (a, b) => ordered(a, b) && (a as number) < (b as number),
  ">": (a, b) => ordered(a, b) && (a as number) > (b as number),
  "<=": (a, b) => ordered(a, b) && (a as number) <= (b as number),
  ">=": (a, b) => ordered(a, b) && (a as number) >= (b as number),
  "+": (a, b) => (typeof a === "string" && typeof b === "string" ? a + b : num((x, y) => x + y)(a, b)),
  "-": num((x, y) => x - y),
  "*": num((x, y) => x * y),
  "/": num((x, y) => x / y),
  "%": num((x, y) => x % y),
};

/** Evaluators of literals, with their value, so operators against a literal compile to a direct comparison. */
const LITERALS = new WeakMap<Evaluator, Value>();

function literal(v: Value): Evaluator {
  const e: Evaluator = () => v;
  LITERALS.set(e, v);
  return e;
}

const known = (e: Evaluator): boolean => LITERALS.has(e);

function and(l: Evaluator, r: Evaluator): Evaluator {
  if ((known(l) && LITERALS.get(l) !== true) || (known(r) && LITERALS.get(r) !== true)) return literal(false);
  if (known(l)) return known(r) ? literal(true) : (i) => r(i) === true;
  if (known(r)) return (i) => l(i) === true;
  return (i) => l(i) === true && r(i) === true;
}

function or(l: Evaluator, r: Evaluator): Evaluator {
  if ((known(l) && LITERALS.get(l) === true) || (known(r) && LITERALS.get(r) === true)) return literal(true);
  if (known(l)) return known(r) ? literal(false) : (i) => r(i) === true;
  if (known(r)) return (i) => l(i) === true;
  return (i) => l(i) === true || r(i) === true;
}

const isPrimitive = (v: Value | undefined): v is string | number | boolean | null => v === null || (v !== undefined && typeof v !== "object");

/** `l op r` where one side is a primitive literal: no generic dispatch at evaluation time. */
function specialize(op: string, l: Evaluator, r: Evaluator): Evaluator | null {
  const lv = LITERALS.get(l);
  const rv = LITERALS.get(r);
  if ((op === "==" || op === "!=") && (isPrimitive(rv) || isPrimitive(lv))) {
    const [e, c] = isPrimitive(rv) ? [l, rv] : [r, lv as Value];
    return op === "==" ? (i) => e(i) === c : (i) => e(i) !== c;
  }
  if (typeof rv === "number" && (op === "<" || op === ">" || op === "<=" || op === ">=")) {
    const c = rv;
    if (op === "<") return (i) => { const v = l(i); return typeof v === "number" && v < c; };
    if (op === ">") return (i) => { const v = l(i); return typeof v === "number" && v > c; };
    if (op === "<=") return (i) => { const v = l(i); return typeof v === "number" && v <= c; };
    return (i) => { const v = l(i); return typeof v === "number" && v >= c; };
  }
  if (op === "in" && isPrimitive(lv)) {
    const c = lv;
    return (i) => {
      const h = r(i);
      if (Array.isArray(h)) return h.includes(c);
      return contains(h, c);
    };
  }
  return null;
}

/** Operators by precedence level, lowest first. */
const LEVELS: readonly (readonly string[])[] = [["||"], ["&&"], ["==", "!=", "in"], ["<", ">", "<=", ">="], ["+", "-"], ["*", "/", "%"]];

type FnCompiler = (args: Evaluator[], argTokens: Token[], source: string) => Evaluator;

const str = (v: Value): string | null => (typeof v === "string" ? v : null);

const FUNCTIONS: Readonly<Record<string, { arity: number; compile: FnCompiler }>> = {
  starts_with: { arity: 2, compile: ([a, b]) => (i) => { const s = str(a!(i)), p = str(b!(i)); return s !== null && p !== null && s.startsWith(p); } },
  ends_with: { arity: 2, compile: ([a, b]) => (i) => { const s = str(a!(i)), p = str(b!(i)); return s !== null && p !== null && s.endsWith(p); } },
  contains: { arity: 2, compile: ([a, b]) => (i) => contains(a!(i), b!(i)) },
  len: {
    arity: 1,
    compile: ([a]) => (i) => {
      const v = a!(i);
      if (typeof v === "string" || Array.isArray(v)) return v.length;
      return v !== null && typeof v === "object" ? Object.keys(v).length : null;
    },
  },
  lower: { arity: 1, compile: ([a]) => (i) => str(a!(i))?.toLowerCase() ?? null },
  upper: { arity: 1, compile: ([a]) => (i) => str(a!(i))?.toUpperCase() ?? null },
  glob: {
    arity: 2,
    compile: ([a], tokens, source) => {
      const pat = tokens[1] as Token;
      if (pat.kind !== "str") throw new PolicySyntaxError("glob() takes a string literal pattern", source, pat.offset);
      const re = globToRegExp(pat.value as string);
      return (i) => { const s = str(a!(i)); return s !== null && re.test(s); };
    },
  },
};

class Parser {
  #pos = 0;
  /**
   * @param fixed an input whose agent fields and action hold for every evaluation of the result; null for a
   *   condition that must work for any input.
   */
  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
    private readonly fixed: EvalInput | null = null,
  ) {}

  /** `e` as a constant when every part it reads is one (pure evaluation: nothing else can change it). */
  #fold(e: Evaluator, ...parts: Evaluator[]): Evaluator {
    if (!parts.every(known)) return e;
    // Only roots are ever given an input; with every part a constant, none is reached.
    return literal(e(this.fixed as EvalInput));
  }

  parse(): Evaluator {
    const e = this.#binary(0);
    const t = this.#peek();
    if (t.kind !== "eof") this.#fail(`unexpected '${t.text}'`, t);
    return e;
  }

  #peek(): Token {
    return this.tokens[this.#pos] as Token;
  }
  #next(): Token {
    return this.tokens[this.#pos++] as Token;
  }
  #fail(reason: string, t: Token): never {
    throw new PolicySyntaxError(reason, this.source, t.offset);
  }
  #expect(text: string): Token {
    const t = this.#next();
    if (t.text !== text || (t.kind !== "op" && t.kind !== "id")) this.#fail(`expected '${text}' but found '${t.text}'`, t);
    return t;
  }
  #isOp(t: Token, ops: readonly string[]): boolean {
    return (t.kind === "op" || (t.kind === "id" && t.text === "in")) && ops.includes(t.text);
  }

  #binary(level: number): Evaluator {
    if (level === LEVELS.length) return this.#unary();
    const ops = LEVELS[level] as readonly string[];
    let left = this.#binary(level + 1);
    while (this.#isOp(this.#peek(), ops)) {
      const op = this.#next().text;
      const right = this.#binary(level + 1);
      const l = left;
      if (op === "&&") left = and(l, right);
      else if (op === "||") left = or(l, right);
      else {
        const f = BINARY[op] as (a: Value, b: Value) => Value;
        left = this.#fold(specialize(op, l, right) ?? ((i) => f(l(i), right(i))), l, right);
      }
    }
    return left;
  }

  #unary(): Evaluator {
    const t = this.#peek();
    if ((t.kind === "op" && t.text === "!") || (t.kind === "id" && t.text === "not")) {
      this.#next();
      const e = this.#unary();
      return this.#fold((i) => e(i) !== true, e);
    }
    if (t.kind === "op" && t.text === "-") {
      this.#next();
      const e = this.#unary();
      return this.#fold((i) => { const v = e(i); return typeof v === "number" ? -v : null; }, e);
    }
    return this.#postfix();
  }

  #postfix(): Evaluator {
    let { value, root } = this.#primary();
    for (;;) {
      const t = this.#peek();
      if (t.kind === "op" && t.text === ".") {
        this.#next();
        const name = this.#next();
        if (name.kind !== "id") this.#fail(`expected a field name after '.' but found '${name.text}'`, name);
        const direct = root?.fields?.[name.text];
        if (root?.fields && !direct) this.#fail(`unknown field '${name.text}' (known: ${Object.keys(root.fields).join(", ")})`, name);
        const base = value;
        if (direct) value = this.fixed && root === ROOTS.agent && FIXED_AGENT_FIELDS.has(name.text) ? literal(direct(this.fixed)) : direct;
        else value = this.#fold((i) => field(base(i), name.text), base);
        root = undefined;
      } else if (t.kind === "op" && t.text === "[") {
        this.#next();
        const key = this.#binary(0);
        this.#expect("]");
        const base = value;
        value = this.#fold((i) => field(base(i), key(i)), base, key);
        root = undefined;
      } else return value;
    }
  }

  #primary(): { value: Evaluator; root?: Root } {
    const t = this.#next();
    if (t.kind === "num" || t.kind === "str") return { value: literal(t.value as Value) };
    if (t.kind === "op" && t.text === "(") {
      const e = this.#binary(0);
      this.#expect(")");
      return { value: e };
    }
    if (t.kind === "op" && t.text === "[") {
      const items: Evaluator[] = [];
      while (!(this.#peek().kind === "op" && this.#peek().text === "]")) {
        items.push(this.#binary(0));
        if (this.#peek().text === ",") this.#next();
        else break;
      }
      this.#expect("]");
      return { value: this.#fold((i) => items.map((e) => e(i)), ...items) };
    }
    if (t.kind === "id") {
      if (this.#peek().kind === "op" && this.#peek().text === "(") return { value: this.#call(t) };
      if (Object.hasOwn(CONSTANTS, t.text)) return { value: literal(CONSTANTS[t.text] as Value) };
      const root = ROOTS[t.text];
      if (root && Object.hasOwn(ROOTS, t.text)) return { value: this.fixed && FIXED_ROOTS.has(t.text) ? literal(root.get(this.fixed)) : root.get, root };
      this.#fail(`unknown name '${t.text}' (known: ${Object.keys(ROOTS).join(", ")}, Tier0..Tier3, true, false, null)`, t);
    }
    this.#fail(t.kind === "eof" ? "unexpected end of condition" : `unexpected '${t.text}'`, t);
  }

  #call(name: Token): Evaluator {
    const fn = Object.hasOwn(FUNCTIONS, name.text) ? FUNCTIONS[name.text] : undefined;
    if (!fn) this.#fail(`unknown function '${name.text}' (known: ${Object.keys(FUNCTIONS).join(", ")})`, name);
    this.#expect("(");
    const args: Evaluator[] = [];
    const argTokens: Token[] = [];
    while (!(this.#peek().kind === "op" && this.#peek().text === ")")) {
      argTokens.push(this.#peek());
      args.push(this.#binary(0));
      if (this.#peek().text === ",") this.#next();
      else break;
    }
    this.#expect(")");
    if (args.length !== fn.arity) this.#fail(`${name.text}() takes ${fn.arity} argument(s), got ${args.length}`, name);
    return this.#fold(fn.compile(args, argTokens, this.source), ...args);
  }
}

function parse(source: string, fixed: EvalInput | null): Evaluator {
  const tokens = tokenize(source);
  if (tokens.length === 1) throw new PolicySyntaxError("empty condition", source, 0);
  return new Parser(source, tokens, fixed).parse();
}

/** Compiles a condition; throws PolicySyntaxError (with line and column) when it is malformed. */
export function compileCondition(source: string): (input: EvalInput) => boolean {
  const e = parse(source, null);
  if (known(e)) {
    const holds = LITERALS.get(e) === true;
    return () => holds;
  }
  return (i) => e(i) === true;
}

/**
 * A condition (already known to compile) for the decisions where `fixed`'s action, tier, capabilities,
 * metadata, resources and agent name hold: a constant when nothing else is read, else a smaller closure.
 */
export function specializeCondition(source: string, fixed: EvalInput): boolean | ((input: EvalInput) => boolean) {
  const e = parse(source, fixed);
  if (known(e)) return LITERALS.get(e) === true;
  return (i) => e(i) === true;
}
