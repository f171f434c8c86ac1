/**
 * Branded identifiers. Each is a UUID v4 string at run time; the brand keeps an AgentId from being passed
 * where a TaskId is expected. `X.new()` mints one, `X.parse(text)` validates untrusted input.
 */
import { ValidationError } from "./errors.js";
import { randomUuid } from "./uuid.js";

/** A nominal marker: exists only in the type system. */
export type Brand<T, B extends string> = T & { readonly __brand: B };

export type AgentId = Brand<string, "AgentId">;
export type TaskId = Brand<string, "TaskId">;
export type MessageId = Brand<string, "MessageId">;
export type RequestId = Brand<string, "RequestId">;
export type AuditId = Brand<string, "AuditId">;
export type SandboxId = Brand<string, "SandboxId">;
export type SnapshotId = Brand<string, "SnapshotId">;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export function isUuid(text: unknown): text is string {
  return typeof text === "string" && UUID_RE.test(text);
}

export interface IdFactory<T extends string> {
  /** The type's name, used in error messages. */
  readonly kind: string;
  "new"(): T;
  parse(text: unknown): T;
  is(text: unknown): text is T;
}

function idFactory<T extends string>(kind: string): IdFactory<T> {
  return {
    kind,
    new: () => randomUuid() as T,
    parse(text: unknown): T {
      if (!isUuid(text)) {
        const shown = typeof text === "string" ? JSON.stringify(text.slice(0, 64)) : typeof text;
        throw new ValidationError(kind, [{ path: "", message: `expected a UUID, got ${shown}` }]);
      }
      return text.toLowerCase() as T;
    },
    is: (text: unknown): text is T => isUuid(text),
  };
}

export const AgentId = idFactory<AgentId>("AgentId");
export const TaskId = idFactory<TaskId>("TaskId");
export const MessageId = idFactory<MessageId>("MessageId");
export const RequestId = idFactory<RequestId>("RequestId");
export const AuditId = idFactory<AuditId>("AuditId");
export const SandboxId = idFactory<SandboxId>("SandboxId");
export const SnapshotId = idFactory<SnapshotId>("SnapshotId");
