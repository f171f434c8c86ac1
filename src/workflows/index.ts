export type { AgentDirectory, ExecuteOptions, ExecutionStatus, StepRecord, StepStatus, TaskRequest, TaskRunner, WorkflowExecution } from "./types.js";
export { workflowDefinitionSchema, workflowStepSchema, type WorkflowDefinition, type WorkflowDefinitionInput, type WorkflowStep } from "./schema.js";
export { planWorkflow, type WorkflowPlan } from "./dag.js";
export { WorkflowRegistry, type WorkflowSummary } from "./registry.js";
export { WorkflowService, type WorkflowServiceDeps } from "./service.js";
export { SchedulerTaskRunner } from "./scheduler-task-runner.js";
export { InProcessTaskRunner, type TaskHandler, type TaskContext } from "./in-process-task-runner.js";
