/**
 * Every error code the runtime can return, in one table: its family, the HTTP status it maps to and what it
 * means. Components add their codes here (never a second table), and the README lists them from this file.
 */

export type ErrorFamily =
  | "Resource"
  | "Communication"
  | "Security"
  | "Scheduler"
  | "Lifecycle"
  | "ErrorHandler"
  | "Configuration"
  | "Validation"
  | "Policy"
  | "Sandbox"
  | "Audit"
  | "Store"
  | "Api"
  | "Dsl"
  | "Internal";

export interface ErrorCodeInfo {
  readonly family: ErrorFamily;
  readonly status: number;
  readonly description: string;
}

export const ERROR_CODES = {
  // Lifecycle
  AGENT_NOT_FOUND: { family: "Lifecycle", status: 404, description: "No agent with this id exists (or it was terminated)." },
  INVALID_STATE_TRANSITION: { family: "Lifecycle", status: 409, description: "The agent's current state does not allow this transition." },
  INITIALIZATION_FAILED: { family: "Lifecycle", status: 500, description: "An initialization hook failed or exceeded initialization_timeout." },
  TERMINATION_FAILED: { family: "Lifecycle", status: 500, description: "A termination hook failed or exceeded termination_timeout." },
  CONFIGURATION_INVALID: { family: "Lifecycle", status: 400, description: "The agent configuration cannot be applied." },
  MAX_AGENTS_REACHED: { family: "Lifecycle", status: 429, description: "Creating the agent would exceed max_agents." },
  MAX_RESTARTS_EXCEEDED: { family: "Lifecycle", status: 409, description: "The agent has been restarted max_restart_attempts times." },
  AGENT_ALREADY_EXISTS: { family: "Lifecycle", status: 409, description: "An agent with this id already exists." },
  RUNTIME_SHUT_DOWN: { family: "Lifecycle", status: 503, description: "The component was shut down and accepts no more calls." },

  // Resource
  INSUFFICIENT_RESOURCES: { family: "Resource", status: 409, description: "The request does not fit in the remaining capacity." },
  ALLOCATION_FAILED: { family: "Resource", status: 500, description: "Resources could not be allocated to the agent." },
  DEALLOCATION_FAILED: { family: "Resource", status: 500, description: "Resources could not be released." },
  USAGE_EXCEEDED: { family: "Resource", status: 409, description: "The agent exceeded one of its resource limits." },
  MONITORING_FAILED: { family: "Resource", status: 500, description: "Resource usage could not be measured." },
  ALLOCATION_NOT_FOUND: { family: "Resource", status: 404, description: "The agent has no resource allocation." },
  ALREADY_ALLOCATED: { family: "Resource", status: 409, description: "The agent already has a resource allocation; update it instead." },

  // Communication
  AGENT_NOT_REGISTERED: { family: "Communication", status: 404, description: "The agent is not registered with the communication bus." },
  MESSAGE_TOO_LARGE: { family: "Communication", status: 413, description: "The message exceeds max_message_size." },
  DELIVERY_FAILED: { family: "Communication", status: 502, description: "The message could not be delivered." },
  ENCRYPTION_FAILED: { family: "Communication", status: 500, description: "The payload could not be encrypted." },
  TOPIC_NOT_FOUND: { family: "Communication", status: 404, description: "No agent is subscribed to a topic matching the broadcast topic." },
  INVALID_SIGNATURE: { family: "Communication", status: 400, description: "A message's Ed25519 signature does not verify against its sender's key, or its envelope is malformed." },
  DECRYPTION_FAILED: { family: "Communication", status: 400, description: "A signed message could not be decrypted (or decompressed) with the recipient's key." },
  REPLAY_DETECTED: { family: "Communication", status: 409, description: "A message id that was already delivered arrived again." },
  AGENT_QUEUE_FULL: { family: "Communication", status: 429, description: "The recipient's queue holds max_queue_size messages; the message was not accepted." },
  MESSAGE_EXPIRED: { family: "Communication", status: 410, description: "The message outlived its ttl (or message_ttl) before it was delivered." },
  MESSAGE_NOT_FOUND: { family: "Communication", status: 404, description: "No message (or dead letter) with this id is known to the bus." },
  REQUEST_TIMEOUT: { family: "Communication", status: 504, description: "No reply to a request arrived within its timeout." },
  TRANSPORT_UNAVAILABLE: { family: "Communication", status: 503, description: "The message transport (NATS) cannot be reached or refused the operation." },
  DEAD_LETTER_NOT_REPLAYABLE: { family: "Communication", status: 409, description: "The dead letter was never authenticated (tampered or undecryptable envelope): it is kept as evidence and cannot be replayed." },

  // Security
  SECURITY_VIOLATION: { family: "Security", status: 403, description: "A security rule was violated." },

  // Scheduler
  TASK_NOT_FOUND: { family: "Scheduler", status: 404, description: "No task with this id." },
  QUEUE_FULL: { family: "Scheduler", status: 429, description: "The queue is at its configured bound." },
  TASK_TIMEOUT: { family: "Scheduler", status: 504, description: "The task ran longer than its timeout and was killed." },
  TASK_CANCELLED: { family: "Scheduler", status: 409, description: "The task was cancelled before it finished." },
  TASK_ALREADY_EXISTS: { family: "Scheduler", status: 409, description: "A task with this id is already known to the scheduler." },
  TASK_ALREADY_FINISHED: { family: "Scheduler", status: 409, description: "The task has already finished; it can no longer be changed or cancelled." },
  CRON_INVALID: { family: "Scheduler", status: 400, description: "A cron expression or timezone (of a Scheduled agent or a schedule job) cannot be parsed, or names no future time." },
  AGENT_NOT_RUNNABLE: { family: "Scheduler", status: 409, description: "The agent has neither a registered handler nor an entrypoint, or its state accepts no tasks." },
  AGENT_TASK_FAILED: { family: "Scheduler", status: 502, description: "The agent reported an error for the task (agent protocol `error`)." },
  AGENT_PROCESS_EXITED: { family: "Scheduler", status: 502, description: "The agent's process exited before answering the task." },
  SCHEDULE_NOT_FOUND: { family: "Scheduler", status: 404, description: "No schedule job with this id." },
  SCHEDULE_INVALID_STATE: { family: "Scheduler", status: 409, description: "The schedule job's status does not allow this action (resume a Completed or Failed job, pause a finished one)." },
  MESSAGING_UNAVAILABLE: { family: "Scheduler", status: 503, description: "The agent asked to send or subscribe, but no message bus is wired to the executor." },

  // Error handler
  ERROR_HANDLER_FAILED: { family: "ErrorHandler", status: 500, description: "The error handler could not process the error." },
  CIRCUIT_OPEN: { family: "ErrorHandler", status: 503, description: "The agent's circuit breaker is open after repeated failures; tasks fail fast until it half-opens." },
  RECOVERY_FAILED: { family: "ErrorHandler", status: 500, description: "The recovery action chosen for an error could not be carried out." },

  // Configuration and validation
  CONFIGURATION_ERROR: { family: "Configuration", status: 400, description: "The configuration is invalid; details list every bad field." },
  VALIDATION_FAILED: { family: "Validation", status: 400, description: "An input failed validation; details list every bad field." },

  // Policy
  POLICY_DENIED: { family: "Policy", status: 403, description: "A policy denied the operation." },
  POLICY_INVALID: { family: "Policy", status: 400, description: "A policy is malformed (details give the rule, line, column and reason); the previous version stays in force." },
  POLICY_NOT_FOUND: { family: "Policy", status: 404, description: "No policy with this id." },
  POLICY_STORE_UNAVAILABLE: { family: "Policy", status: 503, description: "The policy store cannot be opened, read or written." },
  POLICY_ALREADY_EXISTS: { family: "Policy", status: 409, description: "A policy with this id already exists; update it with PUT instead." },

  // Sandbox
  SANDBOX_NOT_FOUND: { family: "Sandbox", status: 404, description: "No sandbox with this id." },
  TIER_UNAVAILABLE: { family: "Sandbox", status: 503, description: "The requested security tier cannot run on this host." },
  SANDBOX_INVALID_STATE: { family: "Sandbox", status: 409, description: "The sandbox's status does not allow this call (exec on a stopped sandbox, start on a destroyed one)." },
  MOUNT_DENIED: { family: "Sandbox", status: 403, description: "A requested mount is forbidden or not on the mount allowlist." },
  PATH_ESCAPE: { family: "Sandbox", status: 403, description: "A file path leads outside the sandbox workspace (.., absolute path or symlink)." },
  FILE_NOT_FOUND: { family: "Sandbox", status: 404, description: "The file to download does not exist in the sandbox workspace." },
  FILE_TOO_LARGE: { family: "Sandbox", status: 413, description: "The file exceeds the sandbox's upload/download size cap." },
  SANDBOX_CONFIG_INVALID: { family: "Sandbox", status: 400, description: "The sandbox configuration is invalid (environment names, limits, paths)." },
  SANDBOX_BACKEND_FAILED: { family: "Sandbox", status: 500, description: "The tier's backend failed (container engine, bubblewrap, cgroup) while acting on the sandbox." },

  // Audit
  AUDIT_STORE_UNAVAILABLE: { family: "Audit", status: 503, description: "The audit store cannot be reached." },
  AUDIT_EVENT_NOT_FOUND: { family: "Audit", status: 404, description: "No audit record with this id." },
  AUDIT_WRITE_FAILED: { family: "Audit", status: 500, description: "The audit record could not be committed; it was not acknowledged." },
  AUDIT_QUERY_INVALID: { family: "Audit", status: 400, description: "The audit query is malformed (bad cursor, limit, time range or event type)." },
  AUDIT_INTEGRITY_VIOLATION: { family: "Audit", status: 409, description: "Verification found tampering; details name the first broken sequence number." },
  AUDIT_EXPORT_INVALID: { family: "Audit", status: 400, description: "The audit export file cannot be read or is not a Symbiont audit export." },
  AUDIT_SIGNING_KEY_INVALID: { family: "Audit", status: 500, description: "The audit signing key is missing, unreadable, not Ed25519 or readable by others." },
  AUDIT_MIGRATION_FAILED: { family: "Audit", status: 500, description: "The audit store schema could not be migrated (or is newer than this runtime)." },
  AUDIT_TRAIL_CLOSED: { family: "Audit", status: 503, description: "The audit trail was closed and accepts no more records." },
  AUDIT_DISABLED: { family: "Audit", status: 503, description: "The audit trail is disabled (audit.enabled is false): there is nothing to query, verify or export." },

  // Store
  STORE_UNAVAILABLE: { family: "Store", status: 503, description: "The state store cannot be opened or reached." },
  STORE_CORRUPT: { family: "Store", status: 500, description: "The state store file is corrupt or not a Symbiont state store; details name the file. Nothing is reset." },
  STORE_VERSION_UNSUPPORTED: { family: "Store", status: 500, description: "The state store was written by a newer runtime (its schema version is unknown to this one)." },
  STORE_CLOSED: { family: "Store", status: 503, description: "The state store was closed and accepts no more calls." },
  STORE_WRITE_FAILED: { family: "Store", status: 500, description: "A write could not be committed; nothing was acknowledged." },

  // API
  NOT_FOUND: { family: "Api", status: 404, description: "No such route." },
  UNAUTHORIZED: { family: "Api", status: 401, description: "A valid API key is required." },
  METHOD_NOT_ALLOWED: { family: "Api", status: 405, description: "The route exists but not for this HTTP method; the Allow header lists the methods it has." },
  MALFORMED_JSON: { family: "Api", status: 400, description: "The request body is not valid JSON." },
  UNSUPPORTED_MEDIA_TYPE: { family: "Api", status: 415, description: "The request body's Content-Type is not application/json." },
  PAYLOAD_TOO_LARGE: { family: "Api", status: 413, description: "The request body exceeds the route's limit (256 KiB for messaging, 2 MiB otherwise)." },
  RATE_LIMITED: { family: "Api", status: 429, description: "Too many requests for this key or address; retry after the Retry-After header's seconds." },
  INVALID_AGENT_ID: { family: "Api", status: 400, description: "The agent id in the path or body is not a UUID." },
  INVALID_MESSAGE_ID: { family: "Api", status: 400, description: "The message id in the path is not a UUID." },
  AGENT_SCOPE_DENIED: { family: "Api", status: 403, description: "The API key is scoped to other agents." },
  ADMIN_REQUIRED: { family: "Api", status: 403, description: "The route needs an admin API key." },
  API_KEY_NOT_FOUND: { family: "Api", status: 404, description: "No API key with this id." },
  API_KEY_STORE_FAILED: { family: "Api", status: 503, description: "The API key store cannot be opened, read or written." },
  NOT_READY: { family: "Api", status: 503, description: "The runtime has not finished starting or is shutting down." },
  WORKFLOW_NOT_FOUND: { family: "Api", status: 404, description: "No workflow with this id is registered." },
  WORKFLOW_INVALID: { family: "Api", status: 400, description: "The workflow definition is invalid (unknown step reference, cycle, bad field); details say where." },
  WORKFLOW_EXECUTION_NOT_FOUND: { family: "Api", status: 404, description: "No workflow execution with this id (finished executions are kept for a bounded time)." },
  WORKFLOW_AGENT_UNRESOLVED: { family: "Api", status: 422, description: "No live agent matches a workflow step's agent id, name or capability." },
  WORKFLOW_STEP_FAILED: { family: "Api", status: 502, description: "A workflow step failed after its retries (reported inside a failure result)." },
  WORKFLOW_STEP_TIMEOUT: { family: "Api", status: 504, description: "A workflow step exceeded its timeout (reported inside a failure result)." },
  WORKFLOW_CANCELLED: { family: "Api", status: 409, description: "The workflow execution was cancelled (runtime shutdown) before it finished." },
  INVALID_SCHEDULE_ID: { family: "Api", status: 400, description: "The schedule id in the path is not a UUID." },
  AGENT_NAME_AMBIGUOUS: { family: "Api", status: 409, description: "Several live agents have this name; give the agent's id instead." },
  TASK_HANDLER_MISSING: { family: "Api", status: 422, description: "The in-process task runner has no handler for this agent." },

  // Dsl
  DSL_PARSE_ERROR: { family: "Dsl", status: 400, description: "A .symbi source does not parse; details list every problem with its line:col." },
  DSL_EXTRACTION_ERROR: { family: "Dsl", status: 400, description: "A .symbi source parses but cannot become runtime configuration (unknown sandbox tier, bad timeout, ...)." },
  DSL_AGENT_NOT_FOUND: { family: "Dsl", status: 404, description: "The .symbi source defines no agent by that name, or the agent has no body to run." },
  DSL_RUNTIME_ERROR: { family: "Dsl", status: 422, description: "An agent body failed: an error() call, a type error or an uncaught failure of a built-in." },
  DSL_LIMIT_EXCEEDED: { family: "Dsl", status: 422, description: "An agent body exceeded its step budget, timeout, recursion depth or memory bound and was stopped." },
  TOOL_UNAVAILABLE: { family: "Dsl", status: 503, description: "A declared tool cannot run: no sandbox orchestrator or sandbox was given to the tool registry." },
  LLM_NOT_CONFIGURED: { family: "Dsl", status: 503, description: "An agent called reason/llm_call but no LLM provider (dsl.llm.base_url) is configured." },
  LLM_REQUEST_FAILED: { family: "Dsl", status: 502, description: "The LLM provider returned an error or an unreadable answer." },

  // Internal
  INTERNAL_ERROR: { family: "Internal", status: 500, description: "An unexpected internal error." },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes that belong to one family, e.g. `CodeOf<"Lifecycle">`. */
export type CodeOf<F extends ErrorFamily> = {
  [K in ErrorCode]: (typeof ERROR_CODES)[K]["family"] extends F ? K : never;
}[ErrorCode];
