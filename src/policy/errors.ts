/**
 * Errors of the policy engine. A syntax or validation problem inside one policy becomes `POLICY_INVALID` with
 * the policy id, the rule index, the 1-based line and column, and the reason, so an operator can fix it.
 */
import { PolicyError } from "../core/errors.js";

/** Turns an offset into a 1-based line and column of `source`. */
export function lineColumn(source: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** A problem at one place of a condition or pattern; compiled into POLICY_INVALID by the caller. */
export class PolicySyntaxError extends Error {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly reason: string;

  constructor(reason: string, source: string, offset: number) {
    const { line, column } = lineColumn(source, offset);
    super(`${line}:${column}: ${reason}`);
    this.name = "PolicySyntaxError";
    this.reason = reason;
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

export interface InvalidPolicyDetails {
  /** Which part is bad: `rules[2].condition`, `rules[0].action`, `cedar`. */
  readonly field: string;
  readonly line?: number;
  readonly column?: number;
  readonly reason: string;
}

/** POLICY_INVALID naming every problem found in the policy. */
export function invalidPolicy(policyId: string, problems: readonly InvalidPolicyDetails[]): PolicyError {
  const text = problems
    .map((p) => `${p.field}${p.line !== undefined ? ` at ${p.line}:${p.column}` : ""}: ${p.reason}`)
    .join("; ");
  return new PolicyError("POLICY_INVALID", `Policy ${policyId} is invalid: ${text}`, {
    details: { policy_id: policyId, problems },
  });
}

export function policyNotFound(policyId: string): PolicyError {
  return new PolicyError("POLICY_NOT_FOUND", `No policy with id ${policyId}`, { details: { policy_id: policyId } });
}
