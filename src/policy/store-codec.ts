/**
 * How a policy is written to a database row and read back: the whole policy as JSON, validated on the way
 * in, so a row edited by hand into an invalid shape is reported instead of half-loaded.
 */
import { PolicyError } from "../core/errors.js";
import { policySchema } from "../core/schemas.js";
import type { Policy } from "../core/types.js";

export function encodePolicy(policy: Policy): string {
  return JSON.stringify(policy);
}

export function decodePolicy(id: string, body: string): Policy {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    throw new PolicyError("POLICY_STORE_UNAVAILABLE", `Stored policy ${id} is not valid JSON`, { details: { policy_id: id }, cause: err });
  }
  const parsed = policySchema.safeParse(data);
  if (!parsed.success) {
    throw new PolicyError("POLICY_STORE_UNAVAILABLE", `Stored policy ${id} has an invalid shape: ${parsed.error.message}`, { details: { policy_id: id } });
  }
  return parsed.data as Policy;
}

export function storeFailure(what: string, err: unknown): PolicyError {
  if (err instanceof PolicyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PolicyError("POLICY_STORE_UNAVAILABLE", `Policy store ${what} failed: ${message}`, { cause: err });
}
