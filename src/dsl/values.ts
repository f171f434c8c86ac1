/**
 * Attribute values (metadata, with, schedule, channel, ...) as plain data, and the text of an expression as
 * the formatter writes it (policy actions and conditions keep this text).
 */
import type { AttrValue, Expr } from "./ast.js";
import { format } from "./format.js";

export type AttrData = string | number | boolean | AttrData[] | { [key: string]: AttrData };

/** Literals become their value (durations in ms), names their text, lists arrays, records objects. */
export function attrData(v: AttrValue | Expr): AttrData {
  switch (v.kind) {
    case "Literal":
      return v.value;
    case "Ident":
      return v.name;
    case "List":
      return v.items.map((x) => attrData(x));
    case "Record": {
      const out: { [key: string]: AttrData } = {};
      for (const f of v.fields) out[f.key] = attrData(f.value);
      return out;
    }
    default:
      return exprText(v);
  }
}

/** An expression's canonical source text. */
export function exprText(e: Expr): string {
  const text = format({
    kind: "Program",
    items: [{ kind: "Policy", name: "x", rules: [{ kind: "PolicyRule", effect: "allow", expr: e, condition: undefined, span: e.span }], span: e.span }],
    comments: [],
    span: e.span,
  });
  const line = text.split("\n").slice(1, -2).join("\n").trim();
  return line.slice("allow: ".length);
}

/** Attribute data as one metadata string: strings as they are, everything else as JSON. */
export function attrString(v: AttrData): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join(", ");
  return JSON.stringify(v);
}
