/**
 * Which ErrorType a RuntimeError is, and the default recovery strategy of each type.
 */
import type { RuntimeError } from "../core/errors.js";
import { ERROR_TYPES, type ErrorType, type RecoveryStrategy } from "./types.js";

/** Codes whose family alone would say otherwise. */
const BY_CODE: Readonly<Record<string, ErrorType>> = {
  TASK_TIMEOUT: "ResourceExhaustion",
  QUEUE_FULL: "ResourceExhaustion",
  MESSAGING_UNAVAILABLE: "NetworkError",
  MOUNT_DENIED: "SecurityViolation",
  PATH_ESCAPE: "SecurityViolation",
  CONFIGURATION_INVALID: "ValidationError",
};

const BY_FAMILY: Readonly<Partial<Record<RuntimeError["family"], ErrorType>>> = {
  Resource: "ResourceExhaustion",
  Communication: "NetworkError",
  Security: "SecurityViolation",
  Policy: "PolicyViolation",
  Validation: "ValidationError",
  Configuration: "ValidationError",
};

/**
 * An error's type: `details.error_type` when the reporter named one (an agent's protocol `error` may), else
 * by code, else by family; anything else is a SystemError.
 */
export function classifyError(error: RuntimeError): ErrorType {
  const named = error.details?.error_type;
  if (typeof named === "string" && (ERROR_TYPES as readonly string[]).includes(named)) return named as ErrorType;
  return BY_CODE[error.code] ?? BY_FAMILY[error.family] ?? "SystemError";
}

/** The defaults: what each type of error gets unless `registerStrategy` says otherwise. */
export function defaultStrategies(): Map<ErrorType, RecoveryStrategy> {
  return new Map<ErrorType, RecoveryStrategy>([
    ["ResourceExhaustion", { type: "Retry", max_attempts: 3, backoff: 1_000 }],
    ["NetworkError", { type: "Retry", max_attempts: 5, backoff: 500 }],
    ["SecurityViolation", { type: "Terminate", cleanup: true }],
    ["PolicyViolation", { type: "Manual", reason: "policy violation needs an operator" }],
    ["SystemError", { type: "Restart", preserve_state: true }],
    ["ValidationError", { type: "Failover" }],
  ]);
}
