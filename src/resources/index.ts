/**
 * Resource manager: admission control, limits applied live to sandboxes, measured usage, violations handed
 * to the error handler, alerts with hysteresis, auto-scaling and bounded per-agent history.
 */
export type * from "./types.js";
export { RESOURCE_KINDS } from "./types.js";
export { DefaultResourceManager, createResourceManager, type CreateResourceManagerOptions, type ResourceManagerDeps } from "./default-resource-manager.js";
