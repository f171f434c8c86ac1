/**
 * Action patterns of rules: `<action>[:<resource>]`. The action part is a dotted verb where `*` matches any
 * run of characters (`sandbox.*`, `*`); the resource part is a path-style glob where `*` stays within one
 * `/` segment, `**` crosses segments and `?` is one character (`file.read:/data/*`, `message.send:alerts.**`).
 */
import { PolicySyntaxError } from "./errors.js";

export interface ActionPattern {
  /** The exact action when the action part has no wildcard (used to index rules by action). */
  readonly exact: string | null;
  readonly action: RegExp;
  /** Null when the pattern has no resource part: any resource, or none, matches. */
  readonly resource: RegExp | null;
}

const ACTION_CHARS = /^[A-Za-z0-9_.*-]+$/;

function escape(s: string): string {
  return s.replace(/[.+^${}()|[\]\\]/g, "\\$&");
}

/** A path glob as an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += escape(c);
  }
  return new RegExp(`^${re}$`);
}

/** Compiles `pattern`; throws PolicySyntaxError naming the column of the first bad character. */
export function compileActionPattern(pattern: string): ActionPattern {
  const colon = pattern.indexOf(":");
  const action = colon === -1 ? pattern : pattern.slice(0, colon);
  const resource = colon === -1 ? null : pattern.slice(colon + 1);
  if (action.length === 0) throw new PolicySyntaxError("empty action", pattern, 0);
  if (!ACTION_CHARS.test(action)) {
    const bad = [...action].findIndex((c) => !/[A-Za-z0-9_.*-]/.test(c));
    throw new PolicySyntaxError(`invalid character '${action[bad]}' in action (letters, digits, '.', '_', '-', '*')`, pattern, bad);
  }
  if (resource !== null && resource.length === 0) throw new PolicySyntaxError("empty resource after ':'", pattern, colon + 1);
  const hasWildcard = action.includes("*");
  return {
    exact: hasWildcard ? null : action,
    action: new RegExp(`^${action.split("*").map(escape).join(".*")}$`),
    resource: resource === null ? null : globToRegExp(resource),
  };
}
