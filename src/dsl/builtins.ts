/**
 * Built-in functions (`log`, `now`, `format`, `error`, `generate_id`, `hash_sha256`, `verify_hmac_sha256`,
 * `publish`, `send`, `delegate`, `spawn_agent`, `tool_call`, `reason`, `llm_call`, and small conversions) and
 * the methods of lists, strings, records and numbers. Effects go to the host; pure ones run here.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import type { CallArgs, HostOp, Interpreter } from "./interpreter.js";
import {
  DslThrow,
  display,
  equals,
  fromPlain,
  getField,
  isRecord,
  setField,
  toPlain,
  truthy,
  typeName,
  type RecordValue,
  type Value,
} from "./runtime-values.js";

type Builtin = (it: Interpreter, a: CallArgs) => Value;

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "error"]);

function fail(a: CallArgs, message: string): never {
  throw new DslThrow(message, "TypeError", a.span);
}

function arg(a: CallArgs, i: number, name: string): Value {
  if (i < a.positional.length) return a.positional[i] as Value;
  if (a.named.has(name)) return a.named.get(name) as Value;
  return null;
}

function str(a: CallArgs, i: number, name: string, fn: string): string {
  const v = arg(a, i, name);
  if (typeof v !== "string") fail(a, `${fn}: '${name}' must be a string, found a ${typeName(v)}`);
  return v;
}

function namedRecord(a: CallArgs, skip: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of a.named) if (!skip.includes(k)) out[k] = toPlain(v);
  return out;
}

function host(it: Interpreter, op: HostOp, args: Record<string, unknown>): Value {
  return fromPlain(it.host.call(op, args));
}

/** `{}` takes the next positional argument, `{name}` a named one; `{{` and `}}` are literal braces. */
export function formatTemplate(template: string, a: CallArgs, from = 1): string {
  let next = from;
  return template.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)?\}/g, (m, name: string | undefined) => {
    if (m === "{{") return "{";
    if (m === "}}") return "}";
    if (name !== undefined) {
      if (!a.named.has(name)) fail(a, `format: no argument named '${name}' for {${name}}`);
      return display(a.named.get(name) as Value);
    }
    if (next >= a.positional.length) fail(a, `format: the template has more {} than arguments (${a.positional.length - from})`);
    return display(a.positional[next++] as Value);
  });
}

const BUILTINS: Record<string, Builtin> = {
  log(it, a) {
    let level = "info";
    let parts = a.positional;
    const first = parts[0];
    if (parts.length > 1 && typeof first === "string" && LOG_LEVELS.has(first.toLowerCase())) {
      level = first.toLowerCase();
      parts = parts.slice(1);
    }
    const named = a.named.get("level");
    if (typeof named === "string" && LOG_LEVELS.has(named.toLowerCase())) level = named.toLowerCase();
    const message = parts.map(display).join(" ");
    it.host.call("log", { level, message, fields: namedRecord(a, ["level"]) });
    return null;
  },
  now: (it) => host(it, "now", {}),
  format: (_it, a) => formatTemplate(str(a, 0, "template", "format"), a),
  error(_it, a) {
    throw new DslThrow(a.positional.map(display).join(" ") || "error", "Error", a.span);
  },
  generate_id: () => randomUUID(),
  hash_sha256: (_it, a) => createHash("sha256").update(display(arg(a, 0, "data"))).digest("hex"),
  verify_hmac_sha256(_it, a) {
    const payload = display(arg(a, 0, "payload"));
    const signature = str(a, 1, "signature", "verify_hmac_sha256").replace(/^sha256=/, "").toLowerCase();
    const secret = str(a, 2, "secret", "verify_hmac_sha256");
    const expected = createHmac("sha256", secret).update(payload).digest();
    if (!/^[0-9a-f]*$/.test(signature) || signature.length !== expected.length * 2) return false;
    return timingSafeEqual(expected, Buffer.from(signature, "hex"));
  },
  publish: (it, a) => host(it, "publish", { topic: str(a, 0, "topic", "publish"), payload: toPlain(arg(a, 1, "payload")) }),
  send: (it, a) => host(it, "send", { to: str(a, 0, "to", "send"), payload: toPlain(arg(a, 1, "payload")) }),
  delegate: (it, a) => host(it, "delegate", { agent: str(a, 0, "agent", "delegate"), input: toPlain(arg(a, 1, "input")) }),
  spawn_agent: (it, a) => host(it, "spawn_agent", { name: str(a, 0, "name", "spawn_agent"), config: toPlain(arg(a, 1, "config")) }),
  tool_call(it, a) {
    const tool = str(a, 0, "tool", "tool_call");
    return host(it, "tool_call", { tool, args: a.positional.slice(1).map(toPlain), named: namedRecord(a, ["tool"]) });
  },
  reason(it, a) {
    const answer = host(it, "llm", { prompt: toPlain(arg(a, 0, "prompt")), options: namedRecord(a, ["prompt"]) });
    return isRecord(answer) ? getField(answer, "content") : answer;
  },
  llm_call: (it, a) => host(it, "llm", { prompt: toPlain(arg(a, 0, "prompt")), options: namedRecord(a, ["prompt"]) }),
  len: (it, a) => callMethod(it, arg(a, 0, "value"), "len", { positional: [], named: new Map(), span: a.span }),
  to_string: (_it, a) => display(arg(a, 0, "value")),
  to_number(_it, a) {
    const v = arg(a, 0, "value");
    const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
    return Number.isFinite(n) ? n : null;
  },
  to_json: (_it, a) => JSON.stringify(toPlain(arg(a, 0, "value"))),
  parse_json(_it, a) {
    const text = str(a, 0, "text", "parse_json");
    try {
      return fromPlain(JSON.parse(text));
    } catch (e) {
      throw new DslThrow(`parse_json: ${(e as Error).message}`, "ParseError", a.span);
    }
  },
  min: (_it, a) => numbers(a, "min").reduce((x, y) => Math.min(x, y)),
  max: (_it, a) => numbers(a, "max").reduce((x, y) => Math.max(x, y)),
  abs: (_it, a) => Math.abs(numbers(a, "abs")[0] as number),
};

function numbers(a: CallArgs, fn: string): number[] {
  const xs = a.positional.length === 1 && Array.isArray(a.positional[0]) ? (a.positional[0] as Value[]) : a.positional;
  if (xs.length === 0 || !xs.every((x) => typeof x === "number")) fail(a, `${fn} takes one or more numbers`);
  return xs as number[];
}

export function isBuiltin(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(BUILTINS, name);
}

export function callBuiltin(it: Interpreter, name: string, a: CallArgs): Value {
  return (BUILTINS[name] as Builtin)(it, a);
}

function fnArg(it: Interpreter, a: CallArgs, method: string): (v: Value) => Value {
  const f = a.positional[0];
  if (f === undefined) fail(a, `${method} takes a function, e.g. items.${method}(x => ...)`);
  return (v) => it.callValue(f, [v], a.span);
}

function listMethod(it: Interpreter, list: Value[], name: string, a: CallArgs): Value {
  switch (name) {
    case "push":
      list.push(...a.positional);
      return null;
    case "pop":
      return list.pop() ?? null;
    case "len":
    case "length":
      return list.length;
    case "is_empty":
      return list.length === 0;
    case "contains":
      return list.some((x) => equals(x, arg(a, 0, "value")));
    case "get": {
      const i = arg(a, 0, "index");
      return typeof i === "number" && Number.isInteger(i) ? (list[i < 0 ? list.length + i : i] ?? null) : null;
    }
    case "first":
      return list[0] ?? null;
    case "last":
      return list[list.length - 1] ?? null;
    case "join":
      return list.map(display).join(a.positional.length ? display(arg(a, 0, "separator")) : ",");
    case "map": {
      const f = fnArg(it, a, "map");
      return list.map((x) => f(x));
    }
    case "filter": {
      const f = fnArg(it, a, "filter");
      return list.filter((x) => truthy(f(x)));
    }
    case "any": {
      const f = fnArg(it, a, "any");
      return list.some((x) => truthy(f(x)));
    }
    case "all": {
      const f = fnArg(it, a, "all");
      return list.every((x) => truthy(f(x)));
    }
    case "sum":
      return list.reduce<number>((s, x) => s + (typeof x === "number" ? x : fail(a, "sum: the list holds a non-number")), 0);
    case "concat":
      return [...list, ...(Array.isArray(arg(a, 0, "other")) ? (arg(a, 0, "other") as Value[]) : [])];
    case "index_of":
      return list.findIndex((x) => equals(x, arg(a, 0, "value")));
    case "reverse":
      return [...list].reverse();
    case "sort":
      return [...list].sort((x, y) => (typeof x === "number" && typeof y === "number" ? x - y : display(x).localeCompare(display(y))));
    case "slice": {
      const s = arg(a, 0, "start");
      const e = arg(a, 1, "end");
      return list.slice(typeof s === "number" ? s : 0, typeof e === "number" ? e : undefined);
    }
  }
  return fail(a, `lists have no method '${name}'`);
}

function stringMethod(s: string, name: string, a: CallArgs): Value {
  switch (name) {
    case "len":
    case "length":
      return s.length;
    case "is_empty":
      return s.length === 0;
    case "contains":
      return s.includes(display(arg(a, 0, "value")));
    case "starts_with":
      return s.startsWith(display(arg(a, 0, "prefix")));
    case "ends_with":
      return s.endsWith(display(arg(a, 0, "suffix")));
    case "to_upper":
      return s.toUpperCase();
    case "to_lower":
      return s.toLowerCase();
    case "trim":
      return s.trim();
    case "split":
      return s.split(display(arg(a, 0, "separator")));
    case "replace":
      return s.split(display(arg(a, 0, "from"))).join(display(arg(a, 1, "to")));
    case "get": {
      const i = arg(a, 0, "index");
      return typeof i === "number" ? (s[i] ?? null) : null;
    }
    case "substring": {
      const st = arg(a, 0, "start");
      const e = arg(a, 1, "end");
      return s.substring(typeof st === "number" ? st : 0, typeof e === "number" ? e : undefined);
    }
    case "to_number": {
      const n = s.trim() === "" ? Number.NaN : Number(s);
      return Number.isFinite(n) ? n : null;
    }
    case "to_string":
      return s;
  }
  return fail(a, `strings have no method '${name}'`);
}

function recordMethod(r: RecordValue, name: string, a: CallArgs): Value {
  switch (name) {
    case "get": {
      const v = getField(r, display(arg(a, 0, "key")));
      return v === null && a.positional.length > 1 ? (a.positional[1] as Value) : v;
    }
    case "contains":
    case "has":
      return Object.prototype.hasOwnProperty.call(r, display(arg(a, 0, "key")));
    case "keys":
      return Object.keys(r);
    case "values":
      return Object.keys(r).map((k) => r[k] as Value);
    case "len":
    case "length":
      return Object.keys(r).length;
    case "is_empty":
      return Object.keys(r).length === 0;
    case "insert":
      setField(r, display(arg(a, 0, "key")), arg(a, 1, "value"));
      return null;
    case "remove": {
      const k = display(arg(a, 0, "key"));
      const v = getField(r, k);
      delete r[k];
      return v;
    }
    case "to_string":
      return display(r);
  }
  return fail(a, `records have no method '${name}' (and no function field of that name)`);
}

export function callMethod(it: Interpreter, target: Value, name: string, a: CallArgs): Value {
  if (Array.isArray(target)) return listMethod(it, target, name, a);
  if (typeof target === "string") return stringMethod(target, name, a);
  if (isRecord(target)) return recordMethod(target, name, a);
  if (typeof target === "number") {
    if (name === "to_string") return String(target);
    if (name === "round") return Math.round(target);
    if (name === "floor") return Math.floor(target);
    if (name === "ceil") return Math.ceil(target);
    if (name === "abs") return Math.abs(target);
  }
  if (name === "to_string") return display(target);
  if (name === "is_empty" && target === null) return true;
  return fail(a, `cannot call '${name}' on a ${typeName(target)}${target === null ? " (the value is null)" : ""}`);
}
