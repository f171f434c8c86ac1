/**
 * Input mapping: `{{ parameters.a.b }}` and `{{ steps.<id>.output.x }}` inside any JSON value. A string that
 * is exactly one reference becomes the referenced value with its type; a reference inside longer text is
 * interpolated (objects as JSON).
 */
import { ValidationError } from "../core/errors.js";

const REF = /\{\{\s*([A-Za-z0-9_.-]+(?:\[\d+\])*(?:\.[A-Za-z0-9_-]+(?:\[\d+\])*)*)\s*\}\}/g;
const WHOLE = /^\{\{\s*([^{}]+?)\s*\}\}$/;

export interface TemplateScope {
  readonly parameters: unknown;
  readonly steps: Readonly<Record<string, { output: unknown }>>;
}

function segments(path: string): string[] {
  return path.replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean);
}

/** Every `steps.<id>` a value refers to (these become dependencies). */
export function stepReferences(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === "string") {
    for (const m of value.matchAll(REF)) {
      const segs = segments(m[1] as string);
      if (segs[0] === "steps" && segs[1]) out.add(segs[1]);
    }
  } else if (Array.isArray(value)) {
    for (const v of value) stepReferences(v, out);
  } else if (value && typeof value === "object") {
    for (const v of Object.values(value)) stepReferences(v, out);
  }
  return out;
}

/** Every reference path in a value, for validation. */
export function referencePaths(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") for (const m of value.matchAll(REF)) out.push(m[1] as string);
  else if (Array.isArray(value)) for (const v of value) referencePaths(v, out);
  else if (value && typeof value === "object") for (const v of Object.values(value)) referencePaths(v, out);
  return out;
}

function lookup(path: string, scope: TemplateScope, where: string): unknown {
  const segs = segments(path);
  const root = segs.shift();
  let node: unknown;
  if (root === "parameters") node = scope.parameters;
  else if (root === "steps") {
    const step = segs.shift();
    node = step === undefined ? undefined : scope.steps[step];
  } else {
    throw new ValidationError("workflow input", [{ path: where, message: `unknown reference root "${root}" (use parameters or steps)` }]);
  }
  for (const s of segs) {
    if (node === null || typeof node !== "object" || !Object.prototype.hasOwnProperty.call(node, s)) {
      throw new ValidationError("workflow input", [{ path: where, message: `{{ ${path} }} has no value` }]);
    }
    node = (node as Record<string, unknown>)[s];
  }
  if (node === undefined) throw new ValidationError("workflow input", [{ path: where, message: `{{ ${path} }} has no value` }]);
  return node;
}

/** Replaces references in `value`; throws VALIDATION_FAILED naming the first missing one. */
export function render(value: unknown, scope: TemplateScope, where = "input"): unknown {
  if (typeof value === "string") {
    const whole = WHOLE.exec(value);
    if (whole && !whole[1]?.includes("}}")) return lookup((whole[1] as string).trim(), scope, where);
    return value.replace(REF, (_m, path: string) => {
      const v = lookup(path, scope, where);
      return typeof v === "string" ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => render(v, scope, `${where}[${i}]`));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, scope, `${where}.${k}`)]));
  }
  return value;
}
