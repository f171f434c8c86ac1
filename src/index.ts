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
export { createApiServer, API_PREFIX } from "./api/server.js";
export { VERSION } from "./core/version.js";
