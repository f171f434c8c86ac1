/**
 * `delegate(agent, input)` from a DSL body: a task for the named agent through the scheduler, awaited until it
 * finishes. The result is the task's result; any other ending is an error the body can catch.
 */
import { DslError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";
import type { DslDelegator } from "../dsl/host.js";
import type { LifecycleController } from "../lifecycle/types.js";
import type { Scheduler } from "../scheduler/types.js";

export function schedulerDelegator(lifecycle: LifecycleController, scheduler: Scheduler): DslDelegator {
  return {
    async delegate(from: AgentId, agent: string, input: unknown): Promise<unknown> {
      const agents = await lifecycle.listAgents();
      const target = agents.find((a) => a.id === agent) ?? agents.find((a) => a.config.name === agent);
      if (!target) {
        throw new DslError("DSL_AGENT_NOT_FOUND", `delegate: no agent named ${JSON.stringify(agent)}`, {
          details: { from, agent },
        });
      }
      const task = await scheduler.scheduleTask({ agent_id: target.id, input });
      const status = await scheduler.waitForTask(task.id);
      if (status.state === "Completed") return status.result;
      const reason = "error" in status ? status.error.message : "reason" in status ? status.reason : status.state;
      throw new DslError("DSL_RUNTIME_ERROR", `delegate to ${target.config.name} ended ${status.state}: ${reason}`, {
        details: { from, agent: target.id, task_id: task.id, state: status.state },
      });
    },
  };
}
