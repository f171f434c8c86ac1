/**
 * The evaluator for `with` bodies and functions. Bodies and functions are compiled once into closures over
 * frame slots (`compiler.ts`) and then run. It is synchronous: effects go through a `SyncHost` (in the
 * worker, a blocking call to the main thread), so control flow stays plain and fast. Every statement, loop
 * iteration and call costs a step (a counter); past `maxSteps` or `maxDepth` the run stops with a `DslLimit`
 * the agent cannot catch.
 */
import type { Block, FunctionDecl, Program, Span, TypeDef } from "./ast.js";
import { Compiler, type Compiled, type Frame } from "./compiler.js";
import {
  Closure,
  DslLimit,
  DslThrow,
  FunctionRef,
  display,
  equals,
  isRecord,
  newRecord,
  setField,
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

function fail(span: Span | undefined, message: string): never {
  throw new DslThrow(message, "TypeError", span);
}

export class Interpreter {
  steps = 0;
  depth = 0;
  /** Set by `return` until the enclosing function or body takes `returnValue`. */
  returning = false;
  returnValue: Value = null;
  readonly types = new Map<string, TypeDef>();
  /** The type name of records built with `Name { ... }`, for `if let Name(a, b) = ...`. */
  readonly typeOf = new WeakMap<object, string>();
  readonly #functions = new Map<string, FunctionDecl>();
  readonly #compiled = new Map<FunctionDecl, Compiled>();
  readonly #compiler: Compiler;
  readonly #maxSteps: number;

  constructor(
    program: Program,
    agentFunctions: readonly FunctionDecl[],
    readonly host: SyncHost,
    readonly limits: InterpreterLimits,
  ) {
    for (const item of program.items) {
      if (item.kind === "Function") this.#functions.set(item.name, item);
      if (item.kind === "TypeDef") this.types.set(item.name, item);
    }
    for (const f of agentFunctions) this.#functions.set(f.name, f);
    this.#compiler = new Compiler(this, this.#functions);
    this.#maxSteps = limits.maxSteps;
  }

  /** Runs a body with `bindings` as its variables; the value is the body's value or what it returned. */
  run(body: Block, bindings: Readonly<Record<string, Value>>): Value {
    const names = Object.keys(bindings);
    const unit = this.#compiler.body(body, names);
    const frame = new Array(unit.shape.size) as Frame;
    names.forEach((n, i) => (frame[i + 1] = bindings[n] as Value));
    return this.#result(unit.code(frame));
  }

  #result(value: Value): Value {
    if (!this.returning) return value;
    this.returning = false;
    const ret = this.returnValue;
    this.returnValue = null;
    return ret;
  }

  /** Counts one step; the budget is a plain counter compared once per step. */
  step(): void {
    if (++this.steps > this.#maxSteps) {
      throw new DslLimit(`step budget of ${this.limits.maxSteps} exhausted (an endless loop or too much work for one run)`);
    }
  }

  enter(span: Span): void {
    if (++this.depth > this.limits.maxDepth) {
      this.depth = 0;
      throw new DslLimit(`call depth exceeded ${this.limits.maxDepth} at ${span.start.line}:${span.start.col} (runaway recursion?)`);
    }
  }

  /** JavaScript failures inside the interpreter become catchable DSL errors; limits stay uncatchable. */
  catchable(e: unknown): DslThrow {
    if (e instanceof DslThrow) return e;
    if (e instanceof DslLimit) throw e;
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new DslLimit("recursion too deep for the interpreter's stack");
    throw e;
  }

  compiled(decl: FunctionDecl): Compiled {
    let c = this.#compiled.get(decl);
    if (!c) {
      c = this.#compiler.function(decl);
      this.#compiled.set(decl, c);
    }
    return c;
  }

  /** Runs a compiled function on a frame holding its arguments. */
  invoke(fn: Compiled, frame: Frame, span: Span): Value {
    this.enter(span);
    try {
      return this.#result(fn.code(frame));
    } finally {
      this.depth--;
    }
  }

  /** Calls a lambda or function value with positional arguments (used by `map`, `filter`, ...). */
  callValue(fn: Value, args: Value[], span: Span): Value {
    if (fn instanceof Closure) return fn.invoke(args[0] ?? null);
    if (fn instanceof FunctionRef) return this.callFunction(fn.decl, { positional: args, named: new Map(), span });
    return fail(span, `a ${typeName(fn)} is not callable`);
  }

  callFunction(decl: FunctionDecl, args: CallArgs): Value {
    const params = decl.params;
    if (args.positional.length > params.length) {
      fail(args.span, `${decl.name} takes ${params.length} argument(s), given ${args.positional.length}`);
    }
    const fn = this.compiled(decl);
    const frame = new Array(fn.shape.size) as Frame;
    params.forEach((p, i) => {
      if (i < args.positional.length) frame[i + 1] = args.positional[i] as Value;
      else if (args.named.has(p.name)) frame[i + 1] = args.named.get(p.name) as Value;
      else fail(args.span, `${decl.name} is missing argument '${p.name}'`);
    });
    for (const name of args.named.keys()) {
      if (!params.some((p) => p.name === name)) fail(args.span, `${decl.name} has no parameter named '${name}'`);
    }
    return this.invoke(fn, frame, args.span);
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
        return fail(span, `'in' needs a list, a string or a record on its right, found a ${typeName(r)}`);
      case "+":
        if (typeof l === "number" && typeof r === "number") return l + r;
        if (typeof l === "string" || typeof r === "string") return display(l) + display(r);
        if (Array.isArray(l) && Array.isArray(r)) return [...l, ...r];
        if (isRecord(l) && isRecord(r)) return mergeRecords(l, r);
        return fail(span, `cannot add a ${typeName(l)} and a ${typeName(r)}`);
      case "<":
      case ">":
      case "<=":
      case ">=":
        if (!((typeof l === "number" && typeof r === "number") || (typeof l === "string" && typeof r === "string"))) {
          return fail(span, `cannot compare a ${typeName(l)} with a ${typeName(r)} using '${op}'`);
        }
        return op === "<" ? l < r : op === ">" ? l > r : op === "<=" ? l <= r : l >= r;
      default: {
        if (typeof l !== "number" || typeof r !== "number") {
          return fail(span, `'${op}' needs two numbers, found a ${typeName(l)} and a ${typeName(r)}`);
        }
        if ((op === "/" || op === "%") && r === 0) fail(span, "division by zero");
        return op === "-" ? l - r : op === "*" ? l * r : op === "/" ? l / r : l % r;
      }
    }
  }
}

function mergeRecords(a: RecordValue, b: RecordValue): RecordValue {
  const out = newRecord();
  for (const k of Object.keys(a)) setField(out, k, a[k] as Value);
  for (const k of Object.keys(b)) setField(out, k, b[k] as Value);
  return out;
}
