export { DefaultScheduler, type SchedulerDeps } from "./default-scheduler.js";
export { AgentSchedules, type AgentSchedulesDeps } from "./agent-schedules.js";
export { LoadBalancer, makeSlots, type ExecutorSlot } from "./load-balancer.js";
export { TaskQueue } from "./task-queue.js";
export { validateTaskRequest } from "./task-request.js";
export * from "./types.js";
export { ScheduleJobs, jobSchedule, type ScheduleJobsDeps, type JobAgents, type JobPolicies } from "./schedule-jobs.js";
export * from "./schedule-job-types.js";
export { StoreTaskJournal, type FinalStatus, type TaskJournal } from "./task-journal.js";
