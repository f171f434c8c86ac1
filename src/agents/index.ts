export { DefaultAgentExecutor, type AgentExecutorDeps, type ErrorReporter, type ExecutorSettings } from "./default-agent-executor.js";
export { AgentSession, type SessionHandlers, type SessionOptions } from "./session.js";
export { runAgent, type AgentContext, type AgentHandlers, type AgentIo, type IncomingMessage } from "./agent-sdk.js";
export * from "./protocol.js";
export type { AgentExecutor, AgentHandler, AgentMessaging, HandlerContext } from "./types.js";
