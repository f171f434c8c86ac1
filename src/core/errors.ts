/**
 * The runtime's one error hierarchy. Every failure a caller can see is a `RuntimeError` subclass carrying a
 * stable `code` from `ERROR_CODES`, a message a person can act on, optional structured `details` and the
 * HTTP status the code maps to. Families mirror the spec's `RuntimeError` variants.
 */
import { ERROR_CODES, type CodeOf, type ErrorCode, type ErrorFamily } from "./error-codes.js";
import type { AgentId } from "./ids.js";
import type { AgentState } from "./types.js";

export interface RuntimeErrorOptions {
  readonly details?: Record<string, unknown>;
  readonly cause?: unknown;
}

export class RuntimeError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly family: ErrorFamily;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: C, message: string, options: RuntimeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.family = ERROR_CODES[code].family;
    this.status = ERROR_CODES[code].status;
    this.details = options.details;
  }

  /** The `{error, code, details}` body the HTTP API returns. Never includes the stack or the cause. */
  toJSON(): { error: string; code: C; details: Record<string, unknown> | null } {
    return { error: this.message, code: this.code, details: this.details ?? null };
  }
}

export function isRuntimeError(err: unknown): err is RuntimeError {
  return err instanceof RuntimeError;
}

export class LifecycleError extends RuntimeError<CodeOf<"Lifecycle">> {
  static agentNotFound(agent_id: AgentId): LifecycleError {
    return new LifecycleError("AGENT_NOT_FOUND", `Agent ${agent_id} not found`, { details: { agent_id } });
  }
  static invalidStateTransition(from: AgentState, to: AgentState, agent_id?: AgentId): LifecycleError {
    return new LifecycleError("INVALID_STATE_TRANSITION", `Invalid state transition from ${from} to ${to}`, {
      details: { from, to, ...(agent_id ? { agent_id } : {}) },
    });
  }
  static initializationFailed(agent_id: AgentId, reason: string, cause?: unknown): LifecycleError {
    return new LifecycleError("INITIALIZATION_FAILED", `Agent ${agent_id} failed to initialize: ${reason}`, {
      details: { agent_id, reason },
      cause,
    });
  }
  static terminationFailed(agent_id: AgentId, reason: string, cause?: unknown): LifecycleError {
    return new LifecycleError("TERMINATION_FAILED", `Agent ${agent_id} failed to terminate: ${reason}`, {
      details: { agent_id, reason },
      cause,
    });
  }
  static configurationInvalid(reason: string, details?: Record<string, unknown>): LifecycleError {
    return new LifecycleError("CONFIGURATION_INVALID", `Invalid agent configuration: ${reason}`, {
      details: { reason, ...details },
    });
  }
}

export class ResourceError extends RuntimeError<CodeOf<"Resource">> {}
export class CommunicationError extends RuntimeError<CodeOf<"Communication">> {}
export class SecurityError extends RuntimeError<CodeOf<"Security">> {}
export class SchedulerError extends RuntimeError<CodeOf<"Scheduler">> {}
export class ErrorHandlerError extends RuntimeError<CodeOf<"ErrorHandler">> {}
export class PolicyError extends RuntimeError<CodeOf<"Policy">> {}
export class SandboxError extends RuntimeError<CodeOf<"Sandbox">> {}
export class AuditError extends RuntimeError<CodeOf<"Audit">> {}
export class StoreError extends RuntimeError<CodeOf<"Store">> {}
export class ApiError extends RuntimeError<CodeOf<"Api">> {}
/** Agent DSL failures: parse and extraction problems (with every diagnostic in details) and agent-body errors. */
export class DslError extends RuntimeError<CodeOf<"Dsl">> {}

/** One bad field of a validated input: where it is (`resource_limits.memory_mb`) and what is wrong. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

function describeIssues(issues: readonly FieldIssue[]): string {
  return issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ");
}

/** Invalid configuration (runtime config or AgentConfig); `details.issues` names every bad field. */
export class ConfigurationError extends RuntimeError<CodeOf<"Configuration">> {
  readonly issues: readonly FieldIssue[];
  constructor(what: string, issues: readonly FieldIssue[], options: Omit<RuntimeErrorOptions, "details"> = {}) {
    super("CONFIGURATION_ERROR", `Invalid ${what}: ${describeIssues(issues)}`, { ...options, details: { issues } });
    this.issues = issues;
  }
}

/** Invalid input that is not configuration: a malformed id, a bad request body. */
export class ValidationError extends RuntimeError<CodeOf<"Validation">> {
  readonly issues: readonly FieldIssue[];
  constructor(what: string, issues: readonly FieldIssue[], options: Omit<RuntimeErrorOptions, "details"> = {}) {
    super("VALIDATION_FAILED", `Invalid ${what}: ${describeIssues(issues)}`, { ...options, details: { issues } });
    this.issues = issues;
  }
}

export class InternalError extends RuntimeError<CodeOf<"Internal">> {
  constructor(message: string, options: RuntimeErrorOptions = {}) {
    super("INTERNAL_ERROR", message, options);
  }
}

/** Wraps anything thrown into a RuntimeError, keeping RuntimeErrors as they are. */
export function toRuntimeError(err: unknown): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, { cause: err });
}
