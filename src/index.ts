/**
 * Public exports of symbiont-runtime.
 */
export * from "./core/ids.js";
export * from "./core/types.js";
export * from "./core/errors.js";
export { ERROR_CODES, type ErrorCode, type ErrorFamily } from "./core/error-codes.js";
export * from "./core/schemas.js";
export * from "./core/clock.js";
export * from "./core/events.js";
export { createLogger, silentLogger, type Logger } from "./core/logger.js";
export * from "./core/config/index.js";
export * from "./lifecycle/index.js";
export * from "./scheduler/index.js";
export * from "./agents/index.js";
export * from "./errors/index.js";
export * from "./bus/index.js";
export { createRuntime, type Runtime, type CreateRuntimeOptions } from "./runtime.js";
export { createApiServer, API_PREFIX, type ApiServerOptions } from "./api/server.js";
export { route, type ApiContext, type RouteModule, type UsageProvider } from "./api/context.js";
export { agentIdString, messageIdString, type RouteSpec, type Access } from "./api/route.js";
export { inScope, requireScope, requireUnscoped } from "./api/auth.js";
export { ApiKeyService, MemoryApiKeyStore, SqliteApiKeyStore, type ApiKeyStore, type ApiKeyRecord, type Principal } from "./api/keys/index.js";
// The scheduler has its own TaskRunner/TaskRequest/TaskContext; the workflow engine's are exported under
// Workflow* names.
export {
  InProcessTaskRunner,
  planWorkflow,
  WorkflowRegistry,
  WorkflowService,
  workflowDefinitionSchema,
  workflowStepSchema,
  type AgentDirectory,
  type ExecuteOptions,
  type ExecutionStatus,
  type StepRecord,
  type StepStatus,
  type TaskHandler as WorkflowTaskHandler,
  type TaskContext as WorkflowTaskContext,
  type TaskRequest as WorkflowTaskRequest,
  type TaskRunner as WorkflowTaskRunner,
  type WorkflowDefinition,
  type WorkflowDefinitionInput,
  type WorkflowExecution,
  type WorkflowPlan,
  type WorkflowServiceDeps,
  type WorkflowStep,
  type WorkflowSummary,
} from "./workflows/index.js";
export { VERSION } from "./core/version.js";
