export { DefaultLifecycleController, type LifecycleControllerDeps } from "./controller.js";
export { TRANSITIONS, canTransition, INITIALIZED_STATES, RESTARTABLE_STATES } from "./state-machine.js";
export type { LifecycleController, LifecycleHooks, RecoveryReport, RelaunchRequest, SystemStatus } from "./types.js";
