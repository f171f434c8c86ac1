/**
 * The tree-walking evaluator for `with` bodies and functions. It is synchronous: effects go through a
 * `SyncHost` (in the worker, a blocking call to the main thread), so control flow stays plain and fast.
 * Every statement, loop iteration and call costs a step; past `maxSteps` or `maxDepth` the run stops with a
 * `DslLimit` the agent cannot catch.
 */
import type { Arg, AssignStmt, Block, Expr, FunctionDecl, IfStmt, MatchStmt, Pattern, Program, Span, Stmt, TryStmt, TypeDef } from "./ast.js";
import { callBuiltin, callMethod, isBuiltin } from "./builtins.js";
import {
  Closure,
  DslLimit,
  DslThrow,
  FunctionRef,
  Scope,
  display,
  equals,
  getField,
  isRecord,
  newRecord,
  setField,
  truthy,
  typeName,
  type RecordValue,
  type Value,
} from "./runtime-values.js";

/** Effects the interpreter asks its host for. Arguments and answers are plain JSON-able data. */
export type HostOp = "log" | "now" | "publish" | "send" | "delegate" | "spawn_agent" | "tool_call" | "llm" | "secret";

export interface SyncHost {
  /** Performs `op` and returns its answer; throws `DslThrow` when it fails in a way the agent may catch. */
  call(op: HostOp, args: Record<string, unknown>): unknown;
}

export interface InterpreterLimits {
  readonly maxSteps: number;
  readonly maxDepth: number;
}

export interface CallArgs {
  readonly positional: Value[];
  readonly named: Map<string, Value>;
  readonly span: Span;
}

export class Interpreter {
  steps = 0;
  #depth = 0;
  #returning: { value: Value } | undefined;
  readonly #functions = new Map<string, FunctionDecl>();
  readonly #types = new Map<string, TypeDef>();
  /** The type name of records built with `Name { ... }`, for `if let Name(a, b) = ...`. */
  readonly typeOf = new WeakMap<object, string>();

  constructor(
    program: Program,
    agentFunctions: readonly FunctionDecl[],
    readonly host: SyncHost,
    readonly limits: InterpreterLimits,
  ) {
    for (const item of program.items) {
      if (item.kind === "Function") this.#functions.set(item.name, item);
      if (item.kind === "TypeDef") this.#types.set(item.name, item);
    }
    for (const f of agentFunctions) this.#functions.set(f.name, f);
  }

  /** Runs a body with `bindings` as its variables; the value is the body's value or what it returned. */
  run(body: Block, bindings: Readonly<Record<string, Value>>): Value {
    const scope = new Scope(undefined);
    for (const [k, v] of Object.entries(bindings)) scope.set(k, v);
    const value = this.execBlock(body, scope);
    const ret = this.#returning;
    this.#returning = undefined;
    return ret ? ret.value : value;
  }

  #step(): void {
    if (++this.steps > this.limits.maxSteps) {
      throw new DslLimit(`step budget of ${this.limits.maxSteps} exhausted (an endless loop or too much work for one run)`);
    }
  }

  execBlock(b: Block, parent: Scope): Value {
    return this.#execIn(b, blockDeclares(b) ? new Scope(parent) : parent);
  }

  /** Runs a block's statements in `scope` (a fresh one when the block declares variables). */
  #execIn(b: Block, scope: Scope): Value {
    let last: Value = null;
    const stmts = b.stmts;
    for (let i = 0; i < stmts.length; i++) {
      const s = stmts[i] as Stmt;
      last = this.#exec(s, scope);
      if (this.#returning) return null;
      // An if/match/try as the last statement gives the block its value.
      if (i < stmts.length - 1 || (s.kind !== "If" && s.kind !== "Match" && s.kind !== "Try")) last = null;
    }
    if (b.tail) {
      this.#step();
      return this.eval(b.tail, scope);
    }
    return last;
  }

  #exec(s: Stmt, scope: Scope): Value {
    this.#step();
    switch (s.kind) {
      case "Let":
        scope.set(s.name, this.eval(s.value, scope));
        return null;
      case "Assign":
        this.#assign(s, scope);
        return null;
      case "Return":
        this.#returning = { value: s.value ? this.eval(s.value, scope) : null };
        return null;
      case "ExprStmt":
        this.eval(s.expr, scope);
        return null;
      case "If":
        return this.#if(s, scope);
      case "For": {
        const iter = this.eval(s.iter, scope);
        const items: readonly Value[] = Array.isArray(iter)
          ? iter
          : typeof iter === "string"
            ? [...iter]
            : isRecord(iter)
              ? Object.keys(iter)
              : this.#fail(s.iter.span, `cannot loop over a ${typeName(iter)}: 'for' takes a list, a string or a record`);
        // Elements pushed during the loop are not visited: the length is fixed when the loop starts.
        const n = items.length;
        for (let i = 0; i < n && i < items.length; i++) {
          this.#step();
          const inner = new Scope(scope);
          inner.set(s.name, items[i] as Value);
          this.#execIn(s.body, inner);
          if (this.#returning) return null;
        }
        return null;
      }
      case "Match":
        return this.#match(s, scope);
      case "Try":
        return this.#try(s, scope);
    }
  }

  #if(s: IfStmt, scope: Scope): Value {
    if (s.letPattern) {
      const value = this.eval(s.letValue as Expr, scope);
      const inner = new Scope(scope);
      if (this.#bind(s.letPattern, value, inner, true)) return this.execBlock(s.then, inner);
    } else if (truthy(this.eval(s.cond as Expr, scope))) {
      return this.execBlock(s.then, scope);
    }
    if (!s.else) return null;
    return s.else.kind === "If" ? this.#if(s.else, scope) : this.execBlock(s.else, scope);
  }

  /**
   * `x` matches any non-null value, `_` anything, `Some(p)` a non-null value, `None` null, `Ok(p)` / `Err(p)`
   * a tool or call result by its status, `Name(p, ...)` a record built as `Name { ... }` (fields in the
   * type's declared order).
   */
  #bind(p: Pattern, v: Value, scope: Scope, top: boolean): boolean {
    switch (p.kind) {
      case "WildPat":
        return true;
      case "BindPat":
        if (p.name === "None") return v === null;
        if (top && v === null) return false;
        scope.set(p.name, v);
        return true;
      case "CtorPat": {
        if (p.name === "Some") return v !== null && p.args.length === 1 && this.#bind(p.args[0] as Pattern, v, scope, false);
        if (p.name === "Ok" || p.name === "Err") {
          if (!isRecord(v) || p.args.length > 1) return false;
          const status = getField(v, "status");
          const ok = status === "ok" || status === "success";
          if ((p.name === "Ok") !== ok) return false;
          return p.args.length === 0 || this.#bind(p.args[0] as Pattern, v, scope, false);
        }
        if (!isRecord(v) || this.typeOf.get(v) !== p.name) return false;
        const def = this.#types.get(p.name);
        const order = def?.fields ? def.fields.map((f) => f.name) : Object.keys(v);
        if (p.args.length > order.length) return false;
        return p.args.every((a, i) => this.#bind(a, getField(v, order[i] as string), scope, false));
      }
    }
  }

  #match(s: MatchStmt, scope: Scope): Value {
    const v = this.eval(s.subject, scope);
    for (const arm of s.arms) {
      const p = arm.pattern;
      const hit =
        p.kind === "WildPat" ||
        (p.kind === "LitPat" && equals(v, p.value.value)) ||
        (p.kind === "NamePat" && (p.name === "None" || p.name === "null" ? v === null : v === p.name));
      if (!hit) continue;
      return arm.body.kind === "Block" ? this.execBlock(arm.body, scope) : this.eval(arm.body, scope);
    }
    return null;
  }

  #try(s: TryStmt, scope: Scope): Value {
    try {
      return this.execBlock(s.body, scope);
    } catch (e) {
      const thrown = this.#toThrow(e);
      for (const c of s.catches) {
        if (c.typeName !== undefined && c.typeName !== thrown.kind && c.typeName !== "Error") continue;
        const inner = new Scope(scope);
        const rec = newRecord();
        setField(rec, "message", thrown.message);
        setField(rec, "kind", thrown.kind);
        setField(rec, "code", thrown.code ?? null);
        if (thrown.span) setField(rec, "line", thrown.span.start.line);
        inner.set(c.name, rec);
        return this.execBlock(c.body, inner);
      }
      throw e;
    }
  }

  /** JavaScript failures inside the interpreter become catchable DSL errors; limits stay uncatchable. */
  #toThrow(e: unknown): DslThrow {
    if (e instanceof DslThrow) return e;
    if (e instanceof DslLimit) throw e;
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new DslLimit("recursion too deep for the interpreter's stack");
    throw e;
  }

  /** The value to store: the right side, or `old op right` for compound assignments. */
  #combined(s: AssignStmt, old: Value, scope: Scope): Value {
    const rhs = this.eval(s.value, scope);
    return s.op === "=" ? rhs : this.binary(s.op.slice(0, 1), old, rhs, s.span);
  }

  // No closures here: this is the hottest statement in loops.
  #assign(s: AssignStmt, scope: Scope): void {
    const t = s.target;
    const compound = s.op !== "=";
    if (t.kind === "Ident") {
      const owner = scope.lookup(t.name);
      if (!owner) this.#fail(t.span, `assignment to undeclared variable '${t.name}': declare it first with 'let ${t.name} = ...;'`);
      owner.set(t.name, this.#combined(s, compound ? (owner.get(t.name) as Value) : null, scope));
      return;
    }
    const obj = this.eval(t.object, scope);
    if (t.kind === "Member") {
      if (!isRecord(obj)) this.#fail(t.object.span, `cannot set field '${t.name}' on a ${typeName(obj)}`);
      setField(obj, t.name, this.#combined(s, compound ? getField(obj, t.name) : null, scope));
      return;
    }
    const key = this.eval(t.index, scope);
    if (Array.isArray(obj)) {
      const i = this.#listIndex(obj, key, t.index.span);
      obj[i] = this.#combined(s, compound ? (obj[i] as Value) : null, scope);
    } else if (isRecord(obj)) {
      if (typeof key !== "string") this.#fail(t.index.span, `record keys are strings, found a ${typeName(key)}`);
      setField(obj, key, this.#combined(s, compound ? getField(obj, key) : null, scope));
    } else {
      this.#fail(t.object.span, `cannot index into a ${typeName(obj)}`);
    }
  }

  #listIndex(list: Value[], key: Value, span: Span): number {
    if (typeof key !== "number" || !Number.isInteger(key)) this.#fail(span, `list indexes are whole numbers, found ${display(key)}`);
    const i = key < 0 ? list.length + key : key;
    if (i < 0 || i >= list.length) this.#fail(span, `index ${key} is out of range for a list of length ${list.length}`);
    return i;
  }

  #fail(span: Span | undefined, message: string): never {
    throw new DslThrow(message, "TypeError", span);
  }

  eval(e: Expr, scope: Scope): Value {
    switch (e.kind) {
      case "Literal":
        return e.value;
      case "Ident": {
        for (let sc: Scope | undefined = scope; sc; sc = sc.parent) {
          const v = sc.get(e.name);
          if (v !== undefined) return v;
        }
        if (e.name === "null" || e.name === "None") return null;
        const fn = this.#functions.get(e.name);
        if (fn) return new FunctionRef(fn);
        return this.#fail(e.span, `unknown variable '${e.name}'`);
      }
      case "Vault":
        return this.host.call("secret", { path: e.path }) as string;
      case "List":
        return e.items.map((x) => this.eval(x, scope));
      case "Record":
      case "TypeLiteral": {
        const r = newRecord();
        for (const f of e.fields) setField(r, f.key, this.eval(f.value, scope));
        if (e.kind === "TypeLiteral") this.typeOf.set(r, e.typeName);
        return r;
      }
      case "IfExpr":
        if (truthy(this.eval(e.cond, scope))) return this.execBlock(e.then, scope);
        return e.else.kind === "IfExpr" ? this.eval(e.else, scope) : this.execBlock(e.else, scope);
      case "Lambda":
        return new Closure(e.param, e.body, scope);
      case "Binary": {
        if (e.op === "&&") return truthy(this.eval(e.left, scope)) ? truthy(this.eval(e.right, scope)) : false;
        if (e.op === "||") return truthy(this.eval(e.left, scope)) ? true : truthy(this.eval(e.right, scope));
        return this.binary(e.op, this.eval(e.left, scope), this.eval(e.right, scope), e.span);
      }
      case "Unary": {
        const v = this.eval(e.operand, scope);
        if (e.op === "-") {
          if (typeof v !== "number") this.#fail(e.span, `cannot negate a ${typeName(v)}`);
          return -v;
        }
        return !truthy(v);
      }
      case "Member": {
        const obj = this.eval(e.object, scope);
        if (isRecord(obj)) return getField(obj, e.name);
        if ((e.name === "length" || e.name === "len") && (Array.isArray(obj) || typeof obj === "string")) return obj.length;
        return this.#fail(e.span, `cannot read field '${e.name}' of a ${typeName(obj)}${obj === null ? " (the value is null)" : ""}`);
      }
      case "Index": {
        const obj = this.eval(e.object, scope);
        const key = this.eval(e.index, scope);
        if (Array.isArray(obj)) return obj[this.#listIndex(obj, key, e.index.span)] as Value;
        if (isRecord(obj)) {
          if (typeof key !== "string") this.#fail(e.index.span, `record keys are strings, found a ${typeName(key)}`);
          return getField(obj, key);
        }
        if (typeof obj === "string") return obj[this.#listIndex([...obj], key, e.index.span)] ?? null;
        return this.#fail(e.object.span, `cannot index into a ${typeName(obj)}`);
      }
      case "Call":
        return this.#call(e.callee, e.args, scope, e.span);
    }
  }

  #args(args: readonly Arg[], scope: Scope, span: Span): CallArgs {
    const positional: Value[] = [];
    const named = new Map<string, Value>();
    for (const a of args) {
      const v = this.eval(a.value, scope);
      if (a.name === undefined) positional.push(v);
      else named.set(a.name, v);
    }
    return { positional, named, span };
  }

  #call(callee: Expr, rawArgs: readonly Arg[], scope: Scope, span: Span): Value {
    this.#step();
    if (callee.kind === "Member") {
      const target = this.eval(callee.object, scope);
      if (isRecord(target) && Object.prototype.hasOwnProperty.call(target, callee.name)) {
        const fn = getField(target, callee.name);
        if (fn instanceof Closure || fn instanceof FunctionRef) return this.callValue(fn, this.#args(rawArgs, scope, span).positional, span);
      }
      return callMethod(this, target, callee.name, this.#args(rawArgs, scope, span));
    }
    if (callee.kind === "Ident" && !scope.lookup(callee.name)) {
      const decl = this.#functions.get(callee.name);
      if (decl) return this.callFunction(decl, this.#args(rawArgs, scope, span));
      const args = this.#args(rawArgs, scope, span);
      try {
        if (isBuiltin(callee.name)) return callBuiltin(this, callee.name, args);
        // Any other name is a tool of the agent's: the host checks policy and runs it, or says it did not.
        return callBuiltin(this, "tool_call", { positional: [callee.name, ...args.positional], named: args.named, span });
      } catch (e) {
        // Host failures carry no position; give them the call's.
        if (e instanceof DslThrow && !e.span) throw new DslThrow(e.message, e.kind, span, e.code);
        throw e;
      }
    }
    const fn = this.eval(callee, scope);
    return this.callValue(fn, this.#args(rawArgs, scope, span).positional, span);
  }

  /** Calls a lambda or function value with positional arguments (used by `map`, `filter`, ...). */
  callValue(fn: Value, args: Value[], span: Span): Value {
    if (fn instanceof Closure) {
      this.#enter(span);
      try {
        const s = new Scope(fn.scope);
        s.set(fn.param, args[0] ?? null);
        return this.eval(fn.body, s);
      } finally {
        this.#depth--;
      }
    }
    if (fn instanceof FunctionRef) return this.callFunction(fn.decl, { positional: args, named: new Map(), span });
    return this.#fail(span, `a ${typeName(fn)} is not callable`);
  }

  #enter(span: Span): void {
    if (++this.#depth > this.limits.maxDepth) {
      this.#depth = 0;
      throw new DslLimit(`call depth exceeded ${this.limits.maxDepth} at ${span.start.line}:${span.start.col} (runaway recursion?)`);
    }
  }

  callFunction(decl: FunctionDecl, args: CallArgs): Value {
    const scope = new Scope(undefined);
    const params = decl.params;
    if (args.positional.length > params.length) {
      this.#fail(args.span, `${decl.name} takes ${params.length} argument(s), given ${args.positional.length}`);
    }
    params.forEach((p, i) => {
      if (i < args.positional.length) scope.set(p.name, args.positional[i] as Value);
      else if (args.named.has(p.name)) scope.set(p.name, args.named.get(p.name) as Value);
      else this.#fail(args.span, `${decl.name} is missing argument '${p.name}'`);
    });
    for (const name of args.named.keys()) {
      if (!params.some((p) => p.name === name)) this.#fail(args.span, `${decl.name} has no parameter named '${name}'`);
    }
    this.#enter(args.span);
    try {
      const value = this.execBlock(decl.body, scope);
      const ret = this.#returning;
      this.#returning = undefined;
      return ret ? ret.value : value;
    } finally {
      this.#depth--;
    }
  }

  binary(op: string, l: Value, r: Value, span: Span): Value {
    switch (op) {
      case "==":
        return equals(l, r);
      case "!=":
        return !equals(l, r);
      case "in":
        if (Array.isArray(r)) return r.some((x) => equals(x, l));
        if (typeof r === "string" && typeof l === "string") return r.includes(l);
        if (isRecord(r) && typeof l === "string") return Object.prototype.hasOwnProperty.call(r, l);
        return this.#fail(span, `'in' needs a list, a string or a record on its right, found a ${typeName(r)}`);
      case "+":
        if (typeof l === "number" && typeof r === "number") return l + r;
        if (typeof l === "string" || typeof r === "string") return display(l) + display(r);
        if (Array.isArray(l) && Array.isArray(r)) return [...l, ...r];
        if (isRecord(l) && isRecord(r)) return mergeRecords(l, r);
        return this.#fail(span, `cannot add a ${typeName(l)} and a ${typeName(r)}`);
      case "<":
      case ">":
      case "<=":
      case ">=":
        if (!((typeof l === "number" && typeof r === "number") || (typeof l === "string" && typeof r === "string"))) {
          return this.#fail(span, `cannot compare a ${typeName(l)} with a ${typeName(r)} using '${op}'`);
        }
        return op === "<" ? l < r : op === ">" ? l > r : op === "<=" ? l <= r : l >= r;
      default: {
        if (typeof l !== "number" || typeof r !== "number") {
          return this.#fail(span, `'${op}' needs two numbers, found a ${typeName(l)} and a ${typeName(r)}`);
        }
        if ((op === "/" || op === "%") && r === 0) this.#fail(span, "division by zero");
        return op === "-" ? l - r : op === "*" ? l * r : op === "/" ? l / r : l % r;
      }
    }
  }
}

const declares = new WeakMap<Block, boolean>();

/** Whether a block has `let` statements of its own (else it can share its parent's scope). */
function blockDeclares(b: Block): boolean {
  let d = declares.get(b);
  if (d === undefined) {
    d = b.stmts.some((s) => s.kind === "Let");
    declares.set(b, d);
  }
  return d;
}

function mergeRecords(a: RecordValue, b: RecordValue): RecordValue {
  const out = newRecord();
  for (const k of Object.keys(a)) setField(out, k, a[k] as Value);
  for (const k of Object.keys(b)) setField(out, k, b[k] as Value);
  return out;
}
