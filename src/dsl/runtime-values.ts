/**
 * What DSL values are at run time: `null`, booleans, numbers, strings, arrays (lists), plain objects
 * (records) and closures. Records are read with own-property checks and written with `defineProperty`, so a
 * key such as `__proto__` or `constructor` is data, never a path into JavaScript internals.
 */
import type { FunctionDecl, Span } from "./ast.js";

export type Value = null | boolean | number | string | Value[] | RecordValue | Closure | FunctionRef;
export interface RecordValue {
  [key: string]: Value;
}

/** What can be called as a value: one class to test for, so telling records apart stays cheap. */
export abstract class Callable {}

/** A lambda with the frame it was written in, compiled: `invoke` runs its body on one argument. */
export class Closure extends Callable {
  constructor(readonly invoke: (arg: Value) => Value) {
    super();
  }
}

/** A named function used as a value (`items.map(check)`). */
export class FunctionRef extends Callable {
  constructor(readonly decl: FunctionDecl) {
    super();
  }
}

/**
 * An error the agent can catch: `error("...")`, a failed built-in, a policy denial. `kind` is what
 * `catch (Kind e)` matches; `code` is the runtime error code when one applies.
 */
export class DslThrow extends Error {
  constructor(
    message: string,
    readonly kind: string,
    readonly span: Span | undefined,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** A limit was hit (steps, depth, memory): never catchable by the agent. */
export class DslLimit extends Error {}

export function isRecord(v: unknown): v is RecordValue {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Callable);
}

export function getField(r: RecordValue, key: string): Value {
  return Object.prototype.hasOwnProperty.call(r, key) ? (r[key] as Value) : null;
}

export function setField(r: RecordValue, key: string, value: Value): void {
  if (key === "__proto__") Object.defineProperty(r, key, { value, writable: true, enumerable: true, configurable: true });
  else r[key] = value;
}

export function newRecord(): RecordValue {
  return {};
}

export function typeName(v: Value): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  if (v instanceof Closure || v instanceof FunctionRef) return "function";
  if (typeof v === "object") return "record";
  return typeof v === "number" ? "number" : typeof v === "boolean" ? "bool" : "string";
}

/** Only `false` and `null` are false. */
export function truthy(v: Value): boolean {
  return v !== false && v !== null;
}

export function equals(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => equals(x, b[i] as Value));
  if (isRecord(a) && isRecord(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && equals(a[k] as Value, b[k] as Value));
  }
  return false;
}

/** How a value reads in `format`, `+` with a string, and `log`. */
export function display(v: Value): string {
  if (typeof v === "string") return v;
  if (v === null) return "null";
  if (v instanceof Closure || v instanceof FunctionRef) return "<function>";
  if (typeof v === "object") return JSON.stringify(toPlain(v));
  return String(v);
}

/** A value as JSON-able data (functions become "<function>"), for results, host calls and logs. */
export function toPlain(v: Value): unknown {
  if (v instanceof Closure || v instanceof FunctionRef) return "<function>";
  if (Array.isArray(v)) return v.map(toPlain);
  if (isRecord(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = toPlain(v[k] as Value);
      if (k === "__proto__") Object.defineProperty(out, k, { value: x, writable: true, enumerable: true, configurable: true });
      else out[k] = x;
    }
    return out;
  }
  return v;
}

/** Data from outside (task input, host answers) as DSL values: undefined becomes null, non-finite numbers too. */
export function fromPlain(x: unknown): Value {
  if (x === undefined || x === null) return null;
  if (typeof x === "boolean" || typeof x === "string") return x;
  if (typeof x === "number") return Number.isFinite(x) ? x : null;
  if (typeof x === "bigint") return Number(x);
  if (Array.isArray(x)) return x.map(fromPlain);
  if (typeof x === "object") {
    const out = newRecord();
    for (const [k, v] of Object.entries(x as Record<string, unknown>)) setField(out, k, fromPlain(v));
    return out;
  }
  return String(x);
}
