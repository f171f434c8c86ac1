/**
 * Sandbox orchestrator: real isolation in tiers (Tier0 bubblewrap + cgroups, Tier1 Docker, Tier2 gVisor,
 * Tier3 Firecracker) behind one `SandboxOrchestrator`.
 */
export type * from "./types.js";
export type { SandboxBackend, BackendSandbox, TierAvailability } from "./backend.js";
export type { SandboxSecurityEventKind } from "./record.js";
export { DefaultSandboxOrchestrator, createSandboxOrchestrator, type CreateSandboxOrchestratorOptions } from "./orchestrator.js";
export { FORBIDDEN_HOST_PATHS } from "./validation.js";
