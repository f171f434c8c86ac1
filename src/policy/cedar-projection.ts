/**
 * What a set of Cedar statements can read of a request, worked out once from each statement's JSON AST, so a
 * decision hands the wasm module only that. Every context field and entity attribute costs the module a few
 * microseconds to convert, and most statements read two or three of them.
 *
 * The projection is exact: a field a statement never names cannot change its result, and wherever the AST
 * reaches data by a route the analysis does not follow (a whole `context` used as a value, an attribute of an
 * arbitrary entity expression), the statement is marked `opaque` and gets the full request.
 */

/** What one statement (or the union over a group of them) reads. */
export interface CedarUses {
  /** `context.<field>` and `context has <field>` roots. */
  readonly context: ReadonlySet<string>;
  /** `principal.<attr>` and `principal has <attr>` roots. */
  readonly principal: ReadonlySet<string>;
  /** `principal.hasTag(..)` / `principal.getTag(..)`. */
  readonly tags: boolean;
  /** Reads something the analysis cannot bound: pass the whole context and principal entity. */
  readonly opaque: boolean;
  /** Reads the resource (scope, `resource`, `context.resource`): its outcome differs from one resource to another. */
  readonly resource: boolean;
}

interface MutableUses {
  context: Set<string>;
  principal: Set<string>;
  tags: boolean;
  opaque: boolean;
  resource: boolean;
}

const empty = (): MutableUses => ({ context: new Set(), principal: new Set(), tags: false, opaque: false, resource: false });

type Node = Record<string, unknown>;

const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);

/** The variable at the root of an attribute chain (`context.resources.memory_mb` → context, "resources"). */
function chainRoot(e: unknown, attr: string): { root: string; attr: string } | null {
  if (!isNode(e)) return null;
  if (typeof e.Var === "string") return { root: e.Var, attr };
  const dot = e["."];
  if (isNode(dot) && typeof dot.attr === "string") return chainRoot(dot.left, dot.attr);
  return null;
}

/** Records an access `left.attr`; anything not rooted at a variable could alias the principal or the context. */
function access(left: unknown, attr: string, u: MutableUses): void {
  const r = chainRoot(left, attr);
  if (r === null) {
    u.opaque = true;
    walk(left, u);
  } else if (r.root === "context") u.context.add(r.attr);
  else if (r.root === "principal") u.principal.add(r.attr);
  else if (r.root === "resource") u.resource = true;
}

function walk(n: unknown, u: MutableUses): void {
  if (Array.isArray(n)) {
    for (const x of n) walk(x, u);
    return;
  }
  if (!isNode(n)) return;
  for (const [k, v] of Object.entries(n)) {
    if (k === "Value") continue;
    if (k === "Var") {
      // A bare principal is only its uid; a bare context is the whole record.
      if (v === "context") u.opaque = true;
      if (v === "resource") u.resource = true;
      continue;
    }
    // `has` takes a path (`context has resources.memory_mb`): its first step is the one read from the root.
    const attr = isNode(v) ? (Array.isArray(v.attr) ? v.attr[0] : v.attr) : undefined;
    if ((k === "." || k === "has") && typeof attr === "string") {
      access((v as Node).left, attr, u);
      continue;
    }
    if ((k === "hasTag" || k === "getTag") && isNode(v)) {
      const left = v.left;
      if (isNode(left) && typeof left.Var === "string") {
        if (left.Var === "principal") u.tags = true;
        if (left.Var === "resource") u.resource = true;
      } else {
        u.opaque = true;
        walk(left, u);
      }
      walk(v.right, u);
      continue;
    }
    walk(v, u);
  }
}

/** What the statement whose JSON form (`policyToJson`) is `json` reads. */
export function cedarUses(json: unknown): CedarUses {
  const u = empty();
  walk(isNode(json) ? json.conditions : undefined, u);
  const scope = isNode(json) && isNode(json.resource) ? json.resource.op : "All";
  u.resource ||= scope !== "All" || u.opaque || u.context.has("resource");
  return u;
}

/** The union of what several statements read. */
export function unionUses(all: readonly CedarUses[]): CedarUses {
  const u = empty();
  for (const x of all) {
    for (const c of x.context) u.context.add(c);
    for (const p of x.principal) u.principal.add(p);
    u.tags ||= x.tags;
    u.opaque ||= x.opaque;
    u.resource ||= x.resource;
  }
  return u;
}
