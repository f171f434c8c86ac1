/**
 * The agent DSL: parse `.symbi` files, format them, extract runtime configuration, and run agent bodies
 * under limits and policy.
 */
export type * from "./ast.js";
export { formatDiagnostic, type Diagnostic } from "./diagnostics.js";
export { parse, parseExpression, type ParseResult } from "./parser.js";
export { format } from "./format.js";
export { compileDsl, extract, DSL_AGENT_KEY, type DslAgent, type DslChannel, type DslFile, type DslSchedule, type DslBlockInfo } from "./extract.js";
export { compilePolicy, decideByPolicies, withDslPolicies, actionMatches, ACTION_ALIASES } from "./policy.js";
export { createDslHost, type DslHost, type DslHostDeps, type DslRunContext, type DslBus, type DslDelegator, type DslSpawner } from "./host.js";
export { SandboxToolRegistry, type ToolRegistry, type ToolSpec, type ToolResult, type ToolInput } from "./tools.js";
export { OpenAiCompatibleProvider, createLlmProvider, type LlmProvider, type LlmAnswer, type LlmRequest } from "./llm.js";
export { runDslAgent, limitsFor, findAgent, type DslRunLimits, type DslRunOptions, type DslRunResult } from "./runner.js";
export { createDslService, type DslService, type DslServiceDeps } from "./service.js";
export { lifecycleSpawner } from "./lifecycle-spawner.js";
export { busForDsl } from "./bus-adapter.js";
export { deployDsl, deployConfigs, redeployDsl, selectAgent, instanceConfig, type DeployOptions, type DslLifecycle } from "./deploy.js";
export { loadAgentDir, type AgentDirReport } from "./agent-dir.js";
export { DslWorkerPool, type PoolRunOptions, type HostRequest } from "./worker-pool.js";
