/**
 * Closure compilation of bodies and functions: the tree is turned once into nested JavaScript closures, and
 * every variable is resolved at compile time to a slot of a frame (an array whose slot 0 is the enclosing
 * frame). Running a body then does no name lookups, no switch on node kinds and no allocation per
 * statement. A body or function without lambdas keeps all its block scopes in one frame (nothing can
 * capture a loop iteration's variables), so a loop allocates nothing per iteration; with lambdas, a block
 * that declares variables and each loop iteration get a frame of their own, as closures need.
 *
 * Names are resolved in source order, so a `let` is visible from the statement after it to the end of its
 * block, exactly as a run-time scope chain would find it.
 */
import type { Arg, AssignStmt, Block, Expr, FunctionDecl, IfStmt, MatchStmt, Pattern, Span, Stmt, TryStmt } from "./ast.js";
import { callBuiltin, callMethod, isBuiltin } from "./builtins.js";
import type { CallArgs, Interpreter } from "./interpreter.js";
import {
  Closure,
  DslThrow,
  FunctionRef,
  display,
  equals,
  getField,
  isRecord,
  newRecord,
  setField,
  truthy,
  typeName,
  type Value,
} from "./runtime-values.js";

/** A frame: slot 0 holds the enclosing frame, the rest the variables. */
export type Frame = unknown[];
export type Code = (f: Frame) => Value;

/** Compile-time shape of a frame: how many slots it needs (known once its code is compiled). */
export class FrameShape {
  size = 1;
  constructor(readonly parent: FrameShape | undefined) {}
}

class Scope {
  readonly names = new Map<string, number>();
  constructor(
    readonly shape: FrameShape,
    readonly parent: Scope | undefined,
  ) {}

  declare(name: string): number {
    let slot = this.names.get(name);
    if (slot === undefined) {
      slot = this.shape.size++;
      this.names.set(name, slot);
    }
    return slot;
  }
}

/** A compiled function or body: its frame shape and code, and where its parameters go. */
export interface Compiled {
  readonly shape: FrameShape;
  readonly code: Code;
  readonly params: readonly string[];
}

const EMPTY_NAMED: ReadonlyMap<string, Value> = new Map();

function newFrame(shape: FrameShape, parent: Frame | undefined): Frame {
  const f = new Array(shape.size) as Frame;
  f[0] = parent;
  return f;
}

/** Whether anything under `node` is a lambda (then scopes must be real frames). */
function hasLambda(node: unknown): boolean {
  if (typeof node !== "object" || node === null) return false;
  if ((node as { kind?: unknown }).kind === "Lambda") return true;
  for (const k in node) {
    if (k === "span") continue;
    if (hasLambda((node as Record<string, unknown>)[k])) return true;
  }
  return false;
}

function fail(span: Span | undefined, message: string): never {
  throw new DslThrow(message, "TypeError", span);
}

function listIndex(list: readonly Value[], key: Value, span: Span): number {
  if (typeof key !== "number" || !Number.isInteger(key)) fail(span, `list indexes are whole numbers, found ${display(key)}`);
  const i = key < 0 ? list.length + key : key;
  if (i < 0 || i >= list.length) fail(span, `index ${key} is out of range for a list of length ${list.length}`);
  return i;
}

export class Compiler {
  /** All scopes of the unit being compiled share one frame. */
  #flat = false;

  constructor(
    private readonly it: Interpreter,
    private readonly functions: ReadonlyMap<string, FunctionDecl>,
  ) {}

  /** A function: parameters in slots 1..n of a fresh frame. */
  function(decl: FunctionDecl): Compiled {
    return this.#unit(decl.body, decl.params.map((p) => p.name), false);
  }

  /** A body with `names` bound (slots 1..n); its own `let`s in a scope of their own. */
  body(body: Block, names: readonly string[]): Compiled {
    return this.#unit(body, names, true);
  }

  /** A lone expression with `names` bound (policy conditions, tests). */
  expression(e: Expr, names: readonly string[]): Compiled {
    return this.body({ kind: "Block", stmts: [], tail: e, span: e.span }, names);
  }

  #unit(body: Block, params: readonly string[], ownScope: boolean): Compiled {
    const saved = this.#flat;
    this.#flat = !hasLambda(body);
    try {
      const shape = new FrameShape(undefined);
      const scope = new Scope(shape, undefined);
      for (const p of params) scope.declare(p);
      return { shape, code: this.#block(body, scope, ownScope), params };
    } finally {
      this.#flat = saved;
    }
  }

  /** A scope inside `scope`: in the same frame when flat, else in a new frame (`shape` is then new). */
  #inner(scope: Scope): Scope {
    return new Scope(this.#flat ? scope.shape : new FrameShape(scope.shape), scope);
  }

  /** Slot of `name` and how many frames up it lives, or undefined when no scope declares it. */
  #resolve(scope: Scope, name: string): { hops: number; slot: number } | undefined {
    let hops = 0;
    let shape = scope.shape;
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      if (s.shape !== shape) {
        hops++;
        shape = s.shape;
      }
      const slot = s.names.get(name);
      if (slot !== undefined) return { hops, slot };
    }
    return undefined;
  }

  // ---- blocks and statements ----

  /** `ownScope`: the block's `let`s live in a scope of their own (else in `scope`). */
  #block(b: Block, scope: Scope, ownScope: boolean): Code {
    const it = this.it;
    const inner = ownScope && b.stmts.some((s) => s.kind === "Let") ? this.#inner(scope) : scope;
    const stmts = b.stmts.map((s) => this.#stmt(s, inner));
    const tail = b.tail ? this.#expr(b.tail, inner) : undefined;
    const last = b.stmts[b.stmts.length - 1];
    // An if/match/try as the last statement gives the block its value.
    const lastGives = !tail && last !== undefined && (last.kind === "If" || last.kind === "Match" || last.kind === "Try");
    const n = stmts.length;
    const [s0, s1, s2] = stmts as [Code, Code, Code];
    let run: Code;
    // Short blocks (most loop bodies) are unrolled: no loop and no array reads per statement.
    if (n === 0 && tail) {
      run = (f) => {
        it.step();
        return tail(f);
      };
    } else if (n === 1 && !tail) {
      run = lastGives ? s0 : (f) => (s0(f), null);
    } else if (n === 2 && !tail) {
      run = (f) => {
        s0(f);
        if (it.returning) return null;
        const v = s1(f);
        return lastGives && !it.returning ? v : null;
      };
    } else if (n === 3 && !tail) {
      run = (f) => {
        s0(f);
        if (it.returning) return null;
        s1(f);
        if (it.returning) return null;
        const v = s2(f);
        return lastGives && !it.returning ? v : null;
      };
    } else {
      run = (f) => {
        let v: Value = null;
        for (let i = 0; i < n; i++) {
          v = (stmts[i] as Code)(f);
          if (it.returning) return null;
        }
        if (tail) {
          it.step();
          return tail(f);
        }
        return lastGives ? v : null;
      };
    }
    if (inner.shape === scope.shape) return run;
    const shape = inner.shape;
    return (f) => run(newFrame(shape, f));
  }

  #stmt(s: Stmt, scope: Scope): Code {
    const it = this.it;
    switch (s.kind) {
      case "Let": {
        const value = this.#expr(s.value, scope);
        const slot = scope.declare(s.name);
        return (f) => {
          it.step();
          f[slot] = value(f);
          return null;
        };
      }
      case "Assign":
        return this.#assign(s, scope);
      case "Return": {
        const value = s.value ? this.#expr(s.value, scope) : undefined;
        return (f) => {
          it.step();
          it.returnValue = value ? value(f) : null;
          it.returning = true;
          return null;
        };
      }
      case "ExprStmt": {
        const e = this.#expr(s.expr, scope);
        return (f) => {
          it.step();
          e(f);
          return null;
        };
      }
      case "If": {
        const code = this.#if(s, scope);
        return (f) => {
          it.step();
          return code(f);
        };
      }
      case "For":
        return this.#for(s, scope);
      case "Match": {
        const code = this.#match(s, scope);
        return (f) => {
          it.step();
          return code(f);
        };
      }
      case "Try": {
        const code = this.#try(s, scope);
        return (f) => {
          it.step();
          return code(f);
        };
      }
    }
  }

  #for(s: Extract<Stmt, { kind: "For" }>, scope: Scope): Code {
    const it = this.it;
    const iter = this.#expr(s.iter, scope);
    const inner = this.#inner(scope);
    const slot = inner.declare(s.name);
    // The body's `let`s live in the iteration's scope.
    const body = this.#block(s.body, inner, false);
    const own = inner.shape !== scope.shape ? inner.shape : undefined;
    const span = s.iter.span;
    return (f) => {
      it.step();
      const v = iter(f);
      const items: readonly Value[] = Array.isArray(v)
        ? v
        : typeof v === "string"
          ? [...v]
          : isRecord(v)
            ? Object.keys(v)
            : fail(span, `cannot loop over a ${typeName(v)}: 'for' takes a list, a string or a record`);
      // Elements pushed during the loop are not visited: the length is fixed when the loop starts.
      const n = items.length;
      for (let i = 0; i < n && i < items.length; i++) {
        it.step();
        const frame = own ? newFrame(own, f) : f;
        frame[slot] = items[i] as Value;
        body(frame);
        if (it.returning) return null;
      }
      return null;
    };
  }

  #if(s: IfStmt, scope: Scope): Code {
    const otherwise: Code | undefined = !s.else ? undefined : s.else.kind === "If" ? this.#if(s.else, scope) : this.#block(s.else, scope, true);
    if (s.letPattern) {
      const value = this.#expr(s.letValue as Expr, scope);
      const inner = this.#inner(scope);
      const bind = this.#pattern(s.letPattern, inner, true);
      const then = this.#block(s.then, inner, true);
      const own = inner.shape !== scope.shape ? inner.shape : undefined;
      return (f) => {
        const v = value(f);
        const frame = own ? newFrame(own, f) : f;
        if (bind(v, frame)) return then(frame);
        return otherwise ? otherwise(f) : null;
      };
    }
    const cond = this.#expr(s.cond as Expr, scope);
    const then = this.#block(s.then, scope, true);
    return (f) => {
      const c = cond(f);
      if (c !== false && c !== null) return then(f);
      return otherwise ? otherwise(f) : null;
    };
  }

  /**
   * `x` matches any non-null value, `_` anything, `Some(p)` a non-null value, `None` null, `Ok(p)` / `Err(p)`
   * a tool or call result by its status, `Name(p, ...)` a record built as `Name { ... }` (fields in the
   * type's declared order).
   */
  #pattern(p: Pattern, scope: Scope, top: boolean): (v: Value, f: Frame) => boolean {
    switch (p.kind) {
      case "WildPat":
        return () => true;
      case "BindPat": {
        if (p.name === "None") return (v) => v === null;
        const slot = scope.declare(p.name);
        return (v, f) => {
          if (top && v === null) return false;
          f[slot] = v;
          return true;
        };
      }
      case "CtorPat": {
        const args = p.args.map((a) => this.#pattern(a, scope, false));
        const first = args[0];
        if (p.name === "Some") return (v, f) => v !== null && args.length === 1 && (first as (v: Value, f: Frame) => boolean)(v, f);
        if (p.name === "Ok" || p.name === "Err") {
          const wantOk = p.name === "Ok";
          return (v, f) => {
            if (!isRecord(v) || args.length > 1) return false;
            const status = getField(v, "status");
            if (wantOk !== (status === "ok" || status === "success")) return false;
            return first === undefined || first(v, f);
          };
        }
        const it = this.it;
        const name = p.name;
        return (v, f) => {
          if (!isRecord(v) || it.typeOf.get(v) !== name) return false;
          const def = it.types.get(name);
          const order = def?.fields ? def.fields.map((x) => x.name) : Object.keys(v);
          if (args.length > order.length) return false;
          return args.every((a, i) => a(getField(v, order[i] as string), f));
        };
      }
    }
  }

  #match(s: MatchStmt, scope: Scope): Code {
    const subject = this.#expr(s.subject, scope);
    const arms = s.arms.map((arm) => {
      const p = arm.pattern;
      const test: (v: Value) => boolean =
        p.kind === "WildPat"
          ? () => true
          : p.kind === "LitPat"
            ? ((lit: Value) => (v: Value) => equals(v, lit))(p.value.value)
            : p.name === "None" || p.name === "null"
              ? (v) => v === null
              : ((name: string) => (v: Value) => v === name)(p.name);
      const body = arm.body.kind === "Block" ? this.#block(arm.body, scope, true) : this.#expr(arm.body, scope);
      return { test, body };
    });
    return (f) => {
      const v = subject(f);
      for (const arm of arms) if (arm.test(v)) return arm.body(f);
      return null;
    };
  }

  #try(s: TryStmt, scope: Scope): Code {
    const it = this.it;
    const body = this.#block(s.body, scope, true);
    const catches = s.catches.map((c) => {
      const inner = this.#inner(scope);
      const slot = inner.declare(c.name);
      return { type: c.typeName, slot, own: inner.shape !== scope.shape ? inner.shape : undefined, body: this.#block(c.body, inner, true) };
    });
    return (f) => {
      try {
        return body(f);
      } catch (e) {
        const thrown = it.catchable(e);
        for (const c of catches) {
          if (c.type !== undefined && c.type !== thrown.kind && c.type !== "Error") continue;
          const rec = newRecord();
          setField(rec, "message", thrown.message);
          setField(rec, "kind", thrown.kind);
          setField(rec, "code", thrown.code ?? null);
          if (thrown.span) setField(rec, "line", thrown.span.start.line);
          const frame = c.own ? newFrame(c.own, f) : f;
          frame[c.slot] = rec;
          return c.body(frame);
        }
        throw e;
      }
    };
  }

  #assign(s: AssignStmt, scope: Scope): Code {
    const it = this.it;
    const t = s.target;
    const rhs = this.#expr(s.value, scope);
    const op = s.op === "=" ? undefined : s.op.slice(0, 1);
    const span = s.span;
    const combine = op === undefined ? undefined : this.#binaryFn(op, span);
    if (t.kind === "Ident") {
      const at = this.#resolve(scope, t.name);
      if (!at) {
        return () => {
          it.step();
          return fail(t.span, `assignment to undeclared variable '${t.name}': declare it first with 'let ${t.name} = ...;'`);
        };
      }
      const { hops, slot } = at;
      if (hops === 0) {
        if (!combine) {
          return (f) => {
            it.step();
            f[slot] = rhs(f);
            return null;
          };
        }
        if (op === "+") {
          return (f) => {
            it.step();
            const a = f[slot] as Value;
            const b = rhs(f);
            f[slot] = typeof a === "number" && typeof b === "number" ? a + b : combine(a, b);
            return null;
          };
        }
        return (f) => {
          it.step();
          f[slot] = combine(f[slot] as Value, rhs(f));
          return null;
        };
      }
      return (f) => {
        it.step();
        const frame = up(f, hops);
        frame[slot] = combine ? combine(frame[slot] as Value, rhs(f)) : rhs(f);
        return null;
      };
    }
    const object = this.#expr(t.object, scope);
    if (t.kind === "Member") {
      const name = t.name;
      const objSpan = t.object.span;
      if (op === "+" && name !== "__proto__" && s.value.kind === "Literal" && typeof s.value.value === "number") {
        const c = s.value.value;
        return (f) => {
          it.step();
          const obj = object(f);
          if (!isRecord(obj)) return fail(objSpan, `cannot set field '${name}' on a ${typeName(obj)}`);
          const old = Object.prototype.hasOwnProperty.call(obj, name) ? (obj[name] as Value) : null;
          obj[name] = typeof old === "number" ? old + c : (combine as (a: Value, b: Value) => Value)(old, c);
          return null;
        };
      }
      return (f) => {
        it.step();
        const obj = object(f);
        if (!isRecord(obj)) return fail(objSpan, `cannot set field '${name}' on a ${typeName(obj)}`);
        setField(obj, name, combine ? combine(getField(obj, name), rhs(f)) : rhs(f));
        return null;
      };
    }
    const index = this.#expr(t.index, scope);
    const indexSpan = t.index.span;
    const objSpan = t.object.span;
    return (f) => {
      it.step();
      const obj = object(f);
      const key = index(f);
      if (Array.isArray(obj)) {
        const i = listIndex(obj, key, indexSpan);
        obj[i] = combine ? combine(obj[i] as Value, rhs(f)) : rhs(f);
      } else if (isRecord(obj)) {
        if (typeof key !== "string") fail(indexSpan, `record keys are strings, found a ${typeName(key)}`);
        setField(obj, key, combine ? combine(getField(obj, key), rhs(f)) : rhs(f));
      } else {
        fail(objSpan, `cannot index into a ${typeName(obj)}`);
      }
      return null;
    };
  }

  // ---- expressions ----

  #expr(e: Expr, scope: Scope): Code {
    const it = this.it;
    switch (e.kind) {
      case "Literal": {
        const v = e.value;
        return () => v;
      }
      case "Ident":
        return this.#ident(e.name, e.span, scope);
      case "Vault": {
        const path = e.path;
        return () => it.host.call("secret", { path }) as string;
      }
      case "List": {
        const items = e.items.map((x) => this.#expr(x, scope));
        return (f) => items.map((x) => x(f));
      }
      case "Record":
      case "TypeLiteral": {
        const fields = e.fields.map((x) => ({ key: x.key, value: this.#expr(x.value, scope) }));
        const typeName = e.kind === "TypeLiteral" ? e.typeName : undefined;
        return (f) => {
          const r = newRecord();
          for (const x of fields) setField(r, x.key, x.value(f));
          if (typeName !== undefined) it.typeOf.set(r, typeName);
          return r;
        };
      }
      case "IfExpr": {
        const cond = this.#expr(e.cond, scope);
        const then = this.#block(e.then, scope, true);
        const otherwise = e.else.kind === "IfExpr" ? this.#expr(e.else, scope) : this.#block(e.else, scope, true);
        return (f) => (truthy(cond(f)) ? then(f) : otherwise(f));
      }
      case "Lambda": {
        const inner = new Scope(new FrameShape(scope.shape), scope);
        const slot = inner.declare(e.param);
        const body = this.#expr(e.body, inner);
        const shape = inner.shape;
        const span = e.span;
        return (f) =>
          new Closure((arg) => {
            it.step();
            it.enter(span);
            try {
              const frame = newFrame(shape, f);
              frame[slot] = arg;
              return body(frame);
            } finally {
              it.depth--;
            }
          });
      }
      case "Binary": {
        const l = this.#expr(e.left, scope);
        if (e.op === "&&" || e.op === "||") {
          const r = this.#expr(e.right, scope);
          if (e.op === "&&") return (f) => (truthy(l(f)) ? truthy(r(f)) : false);
          return (f) => (truthy(l(f)) ? true : truthy(r(f)));
        }
        if (e.right.kind === "Literal" && typeof e.right.value === "number") {
          const slot = this.#localSlot(e.left, scope);
          const c = e.right.value;
          if (slot !== undefined) {
            const fast = slotLiteral(e.op, slot, c, (a) => it.binary(e.op, a, c, e.span));
            if (fast) return fast;
          }
          return this.#binaryLiteral(e.op, l, c, e.span);
        }
        const r = this.#expr(e.right, scope);
        return this.#binaryCode(e.op, l, r, e.span);
      }
      case "Unary": {
        const operand = this.#expr(e.operand, scope);
        if (e.op !== "-") return (f) => !truthy(operand(f));
        const span = e.span;
        return (f) => {
          const v = operand(f);
          return typeof v === "number" ? -v : fail(span, `cannot negate a ${typeName(v)}`);
        };
      }
      case "Member": {
        const object = this.#expr(e.object, scope);
        const name = e.name;
        const span = e.span;
        const length = name === "length" || name === "len";
        return (f) => {
          const obj = object(f);
          if (isRecord(obj)) return getField(obj, name);
          if (length && (Array.isArray(obj) || typeof obj === "string")) return obj.length;
          return fail(span, `cannot read field '${name}' of a ${typeName(obj)}${obj === null ? " (the value is null)" : ""}`);
        };
      }
      case "Index": {
        const object = this.#expr(e.object, scope);
        const index = this.#expr(e.index, scope);
        const span = e.index.span;
        const objSpan = e.object.span;
        return (f) => {
          const obj = object(f);
          const key = index(f);
          if (Array.isArray(obj)) return obj[listIndex(obj, key, span)] as Value;
          if (isRecord(obj)) {
            if (typeof key !== "string") fail(span, `record keys are strings, found a ${typeName(key)}`);
            return getField(obj, key);
          }
          if (typeof obj === "string") return obj[listIndex([...obj], key, span)] ?? null;
          return fail(objSpan, `cannot index into a ${typeName(obj)}`);
        };
      }
      case "Call":
        return this.#call(e.callee, e.args, scope, e.span);
    }
  }

  #ident(name: string, span: Span, scope: Scope): Code {
    const at = this.#resolve(scope, name);
    if (at) {
      const { hops, slot } = at;
      if (hops === 0) return (f) => f[slot] as Value;
      if (hops === 1) return (f) => (f[0] as Frame)[slot] as Value;
      return (f) => up(f, hops)[slot] as Value;
    }
    if (name === "null" || name === "None") return () => null;
    const fn = this.functions.get(name);
    if (fn) {
      const ref = new FunctionRef(fn);
      return () => ref;
    }
    return () => fail(span, `unknown variable '${name}'`);
  }

  /** `l op r` with the number case inline (one closure per operator: no generic dispatch per evaluation). */
  #binaryCode(op: string, l: Code, r: Code, span: Span): Code {
    const it = this.it;
    const slow = (a: Value, b: Value): Value => it.binary(op, a, b, span);
    switch (op) {
      case "+":
        return (f) => {
          const a = l(f);
          const b = r(f);
          return typeof a === "number" && typeof b === "number" ? a + b : slow(a, b);
        };
      case "-":
        return (f) => {
          const a = l(f);
          const b = r(f);
          return typeof a === "number" && typeof b === "number" ? a - b : slow(a, b);
        };
      case "*":
        return (f) => {
          const a = l(f);
          const b = r(f);
          return typeof a === "number" && typeof b === "number" ? a * b : slow(a, b);
        };
      case "<":
        return (f) => {
          const a = l(f);
          const b = r(f);
          return typeof a === "number" && typeof b === "number" ? a < b : slow(a, b);
        };
      case ">":
        return (f) => {
          const a = l(f);
          const b = r(f);
          return typeof a === "number" && typeof b === "number" ? a > b : slow(a, b);
        };
      default: {
        const fn = this.#binaryFn(op, span);
        return (f) => fn(l(f), r(f));
      }
    }
  }

  /** `l op c` for a number literal `c`. */
  #binaryLiteral(op: string, l: Code, c: number, span: Span): Code {
    const it = this.it;
    const slow = (a: Value): Value => it.binary(op, a, c, span);
    switch (op) {
      case "+":
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a + c : slow(a);
        };
      case "-":
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a - c : slow(a);
        };
      case "*":
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a * c : slow(a);
        };
      case "%":
        if (c === 0) break;
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a % c : slow(a);
        };
      case "/":
        if (c === 0) break;
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a / c : slow(a);
        };
      case "==":
        return (f) => l(f) === c;
      case "!=":
        return (f) => l(f) !== c;
      case "<":
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a < c : slow(a);
        };
      case ">":
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a > c : slow(a);
        };
      case "<=":
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a <= c : slow(a);
        };
      case ">=":
        return (f) => {
          const a = l(f);
          return typeof a === "number" ? a >= c : slow(a);
        };
    }
    const fn = this.#binaryFn(op, span);
    return (f) => fn(l(f), c);
  }

  /** The slot of a variable of the current frame, when `e` is one. */
  #localSlot(e: Expr, scope: Scope): number | undefined {
    if (e.kind !== "Ident") return undefined;
    const at = this.#resolve(scope, e.name);
    return at && at.hops === 0 ? at.slot : undefined;
  }

  /** The operator as a function of two values, with the number cases first. */
  #binaryFn(op: string, span: Span): (l: Value, r: Value) => Value {
    const it = this.it;
    switch (op) {
      case "+":
        return (l, r) => (typeof l === "number" && typeof r === "number" ? l + r : it.binary(op, l, r, span));
      case "-":
        return (l, r) => (typeof l === "number" && typeof r === "number" ? l - r : it.binary(op, l, r, span));
      case "*":
        return (l, r) => (typeof l === "number" && typeof r === "number" ? l * r : it.binary(op, l, r, span));
      case "%":
        return (l, r) => (typeof l === "number" && typeof r === "number" && r !== 0 ? l % r : it.binary(op, l, r, span));
      case "/":
        return (l, r) => (typeof l === "number" && typeof r === "number" && r !== 0 ? l / r : it.binary(op, l, r, span));
      case "<":
        return (l, r) => (typeof l === "number" && typeof r === "number" ? l < r : it.binary(op, l, r, span));
      case ">":
        return (l, r) => (typeof l === "number" && typeof r === "number" ? l > r : it.binary(op, l, r, span));
      case "<=":
        return (l, r) => (typeof l === "number" && typeof r === "number" ? l <= r : it.binary(op, l, r, span));
      case ">=":
        return (l, r) => (typeof l === "number" && typeof r === "number" ? l >= r : it.binary(op, l, r, span));
      case "==":
        return (l, r) => l === r || (typeof l === "object" && typeof r === "object" && equals(l, r));
      case "!=":
        return (l, r) => l !== r && !(typeof l === "object" && typeof r === "object" && equals(l, r));
      default:
        return (l, r) => it.binary(op, l, r, span);
    }
  }

  #args(args: readonly Arg[], scope: Scope, span: Span): (f: Frame) => CallArgs {
    const codes = args.map((a) => ({ name: a.name, value: this.#expr(a.value, scope) }));
    if (codes.every((c) => c.name === undefined)) {
      const positional = codes.map((c) => c.value);
      return (f) => ({ positional: positional.map((p) => p(f)), named: EMPTY_NAMED as Map<string, Value>, span });
    }
    // Arguments are evaluated left to right, as written.
    return (f) => {
      const positional: Value[] = [];
      const named = new Map<string, Value>();
      for (const c of codes) {
        if (c.name === undefined) positional.push(c.value(f));
        else named.set(c.name, c.value(f));
      }
      return { positional, named, span };
    };
  }

  #call(callee: Expr, rawArgs: readonly Arg[], scope: Scope, span: Span): Code {
    const it = this.it;
    const args = this.#args(rawArgs, scope, span);
    if (callee.kind === "Member") {
      const target = this.#expr(callee.object, scope);
      const name = callee.name;
      return (f) => {
        it.step();
        const t = target(f);
        if (isRecord(t) && Object.prototype.hasOwnProperty.call(t, name)) {
          const fn = getField(t, name);
          if (fn instanceof Closure || fn instanceof FunctionRef) return it.callValue(fn, args(f).positional, span);
        }
        return callMethod(it, t, name, args(f));
      };
    }
    if (callee.kind === "Ident" && !this.#resolve(scope, callee.name)) {
      const decl = this.functions.get(callee.name);
      if (decl) {
        const direct = rawArgs.every((a) => a.name === undefined) && rawArgs.length === decl.params.length;
        if (direct) {
          // Positional arguments straight into the callee's frame: no argument objects.
          const values = rawArgs.map((a) => this.#expr(a.value, scope));
          const n = values.length;
          return (f) => {
            it.step();
            const fn = it.compiled(decl);
            const frame = newFrame(fn.shape, undefined);
            for (let i = 0; i < n; i++) frame[i + 1] = (values[i] as Code)(f);
            return it.invoke(fn, frame, span);
          };
        }
        return (f) => {
          it.step();
          return it.callFunction(decl, args(f));
        };
      }
      const name = callee.name;
      const builtin = isBuiltin(name);
      return (f) => {
        it.step();
        const a = args(f);
        try {
          if (builtin) return callBuiltin(it, name, a);
          // Any other name is a tool of the agent's: the host checks policy and runs it, or says it did not.
          return callBuiltin(it, "tool_call", { positional: [name, ...a.positional], named: a.named, span });
        } catch (e) {
          // Host failures carry no position; give them the call's.
          if (e instanceof DslThrow && !e.span) throw new DslThrow(e.message, e.kind, span, e.code);
          throw e;
        }
      };
    }
    const fn = this.#expr(callee, scope);
    return (f) => {
      it.step();
      return it.callValue(fn(f), args(f).positional, span);
    };
  }
}

function up(f: Frame, hops: number): Frame {
  let frame = f;
  for (let i = 0; i < hops; i++) frame = frame[0] as Frame;
  return frame;
}

/** `f[slot] op c` for the common operators, or undefined for the others. */
function slotLiteral(op: string, slot: number, c: number, slow: (a: Value) => Value): Code | undefined {
  switch (op) {
    case "+":
      return (f) => {
        const a = f[slot];
        return typeof a === "number" ? a + c : slow(a as Value);
      };
    case "-":
      return (f) => {
        const a = f[slot];
        return typeof a === "number" ? a - c : slow(a as Value);
      };
    case "*":
      return (f) => {
        const a = f[slot];
        return typeof a === "number" ? a * c : slow(a as Value);
      };
    case "%":
      return c === 0
        ? undefined
        : (f) => {
            const a = f[slot];
            return typeof a === "number" ? a % c : slow(a as Value);
          };
    case "==":
      return (f) => f[slot] === c;
    case "<":
      return (f) => {
        const a = f[slot];
        return typeof a === "number" ? a < c : slow(a as Value);
      };
    default:
      return undefined;
  }
}
