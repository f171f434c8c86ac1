/**
 * Task input → an agent's parameters, checked against their declared types: String, int, float, bool,
 * List<T> / Vec<T> / Array<T>, Map<K, V> / Record / Object, Option<T> (may be missing or null), and the
 * file's own record types (each declared field checked). Other names (Any, Json, DateTime, ...) accept any
 * value.
 */
import type { Param, TypeDef, TypeRef } from "./ast.js";
import { fromPlain, getField, isRecord, type Value } from "./runtime-values.js";
import { typeText } from "./format.js";

export function checkType(v: Value, t: TypeRef, types: ReadonlyMap<string, TypeDef>, path: string, seen = 0): string | undefined {
  const want = `${path} must be ${typeText(t)}`;
  switch (t.name) {
    case "String":
    case "string":
      return typeof v === "string" ? undefined : want;
    case "int":
    case "i32":
    case "i64":
      return typeof v === "number" && Number.isInteger(v) ? undefined : want;
    case "float":
    case "f64":
    case "number":
      return typeof v === "number" ? undefined : want;
    case "bool":
      return typeof v === "boolean" ? undefined : want;
    case "Option":
      return v === null || !t.args[0] ? undefined : checkType(v, t.args[0], types, path, seen);
    case "List":
    case "Vec":
    case "Array": {
      if (!Array.isArray(v)) return want;
      const el = t.args[0];
      if (!el) return undefined;
      for (let i = 0; i < v.length; i++) {
        const e = checkType(v[i] as Value, el, types, `${path}[${i}]`, seen);
        if (e) return e;
      }
      return undefined;
    }
    case "Map":
    case "Record":
    case "Object":
      return isRecord(v) ? undefined : want;
  }
  const def = types.get(t.name);
  if (!def || seen > 32) return undefined;
  if (def.alias) return checkType(v, { kind: "TypeRef", name: def.alias, args: [], span: t.span }, types, path, seen + 1);
  if (!isRecord(v)) return want;
  for (const f of def.fields ?? []) {
    const e = checkType(getField(v, f.name), f.type, types, `${path}.${f.name}`, seen + 1);
    if (e) return e;
  }
  return undefined;
}

/** The variables a body starts with; throws a message naming the first parameter that does not fit. */
export function bindParams(params: readonly Param[], input: unknown, types: ReadonlyMap<string, TypeDef>): Record<string, Value> {
  const data = fromPlain(input);
  if (params.length && !isRecord(data)) throw new Error(`the task input must be a JSON object with ${params.map((p) => `'${p.name}'`).join(", ")}`);
  const out: Record<string, Value> = { input: data };
  for (const p of params) {
    const v = isRecord(data) ? getField(data, p.name) : null;
    const present = isRecord(data) && Object.prototype.hasOwnProperty.call(data, p.name);
    if (!present && p.type.name !== "Option") throw new Error(`the task input is missing '${p.name}' (${typeText(p.type)})`);
    const problem = checkType(v, p.type, types, p.name);
    if (problem) throw new Error(`bad task input: ${problem}`);
    out[p.name] = v;
  }
  return out;
}
