export { DefaultErrorHandler, type ErrorHandlerDeps } from "./default-error-handler.js";
export { CircuitBreaker } from "./circuit-breaker.js";
export { classifyError, defaultStrategies } from "./classify.js";
export * from "./types.js";
