/**
 * DefaultAgentExecutor: the scheduler's TaskRunner. For each task it looks up the agent, moves it to Running
 * (and, for non-persistent agents, to Completed when its last task ends), then runs the task in the agent's
 * in-process handler or its sandboxed program. It also routes bus messages to agents (process, handler, or
 * a new task for EventDriven agents) and is a lifecycle hook: a restart respawns a persistent agent's
 * process, termination stops it and destroys the sandbox.
 */
import type { Clock } from "../core/clock.js";
import type { SchedulerConfig } from "../core/config/scheduler.js";
import { LifecycleError, SchedulerError, toRuntimeError, type RuntimeError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import { AgentId, MessageId, type SandboxId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { AgentInstance, AgentState, Message, ResourceUsage } from "../core/types.js";
import { INITIALIZED_STATES } from "../lifecycle/state-machine.js";
import type { LifecycleController, LifecycleHooks } from "../lifecycle/types.js";
import type { SandboxOrchestrator } from "../sandbox/types.js";
import type { Readiness, ScheduledTask, TaskContext, TaskControl, UsageProbe } from "../scheduler/types.js";
import type { AgentContext } from "./agent-sdk.js";
import "./events.js";
import { payloadBytes, payloadFields, type LogLevel } from "./protocol.js";
import { noSandbox, SandboxPrograms } from "./sandbox-programs.js";
import type { SessionHandlers } from "./session.js";
import type { AgentBodies, AgentExecutor, AgentHandler, AgentMessaging, HandlerContext } from "./types.js";

export type ExecutorSettings = Pick<SchedulerConfig, "agent_max_line_length" | "agent_shutdown_grace" | "agent_inbox_size">;

export interface AgentExecutorDeps {
  readonly config: ExecutorSettings;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly lifecycle: Pick<LifecycleController, "getAgent" | "transition">;
  /** Runs program agents; without one, an agent with an entrypoint fails with TIER_UNAVAILABLE. */
  readonly sandbox?: SandboxOrchestrator;
  readonly messaging?: AgentMessaging;
}

/** The error handler as the executor sees it: crashes of idle persistent processes and agent-level errors. */
export interface ErrorReporter {
  handleError(agentId: AgentId, error: unknown): Promise<unknown>;
}

const CAN_RUN: ReadonlySet<AgentState> = new Set(["Ready", "Running", "Completed", "Waiting"]);
const WAIT: ReadonlySet<AgentState> = new Set(["Created", "Initializing", "Suspended", "Failed"]);

export class DefaultAgentExecutor implements AgentExecutor, LifecycleHooks, UsageProbe {
  readonly name = "executor";
  readonly #config: ExecutorSettings;
  readonly #events: EventStream;
  readonly #logger: Logger;
  readonly #lifecycle: AgentExecutorDeps["lifecycle"];
  readonly #sandbox: SandboxOrchestrator | undefined;
  #messaging: AgentMessaging | undefined;
  #tasks: TaskControl | undefined;
  #errors: ErrorReporter | undefined;
  #bodies: AgentBodies | undefined;
  readonly #programs: SandboxPrograms | undefined;
  readonly #states = new Map<AgentId, AgentState>();
  readonly #handlers = new Map<AgentId, AgentHandler>();
  readonly #inflight = new Map<AgentId, number>();
  readonly #inbox = new Map<AgentId, Message[]>();
  readonly #listening = new Map<AgentId, () => void>();
  /** Per-agent protocol handlers and handler context functions, built once. */
  readonly #perAgent = new Map<AgentId, { handlers: SessionHandlers; context: AgentContext }>();
  readonly #unsubscribe: (() => void)[];
  #closed = false;

  constructor(deps: AgentExecutorDeps) {
    this.#config = deps.config;
    this.#events = deps.events;
    this.#logger = deps.logger.child({ component: "executor" });
    this.#lifecycle = deps.lifecycle;
    this.#sandbox = deps.sandbox;
    this.#messaging = deps.messaging;
    if (deps.sandbox) {
      this.#programs = new SandboxPrograms({
        sandbox: deps.sandbox,
        clock: deps.clock,
        events: deps.events,
        logger: this.#logger,
        maxLineLength: deps.config.agent_max_line_length,
        shutdownGraceMs: deps.config.agent_shutdown_grace,
        handlersFor: (id) => this.#sessionHandlers(id),
        onCrash: (id, err, busy) => this.#crashed(id, err, busy),
      });
    }
    // A synchronous view of agent states: the scheduler asks `readiness` for every task it dispatches.
    this.#unsubscribe = [
      deps.events.on("agent.created", (e) => this.#states.set(e.agent_id, "Created")),
      deps.events.on("agent.state_changed", (e) => this.#states.set(e.agent_id, e.to)),
      deps.events.on("agent.removed", (e) => this.#forget(e.agent_id)),
    ];
  }

  /** Wires the collaborators built after the executor (they refer back to it). */
  attach(collaborators: { tasks?: TaskControl; errors?: ErrorReporter; messaging?: AgentMessaging; bodies?: AgentBodies }): void {
    if (collaborators.bodies) this.#bodies = collaborators.bodies;
    if (collaborators.tasks) this.#tasks = collaborators.tasks;
    if (collaborators.errors) this.#errors = collaborators.errors;
    if (collaborators.messaging) this.#messaging = collaborators.messaging;
  }

  registerHandler(agentId: AgentId, handler: AgentHandler): void {
    this.#handlers.set(AgentId.parse(agentId), handler);
  }

  unregisterHandler(agentId: AgentId): void {
    this.#handlers.delete(agentId);
  }

  // ---- TaskRunner ----

  readiness(agentId: AgentId): Readiness {
    const state = this.#states.get(agentId);
    if (state === undefined) return LifecycleError.agentNotFound(agentId);
    if (CAN_RUN.has(state)) return "ready";
    if (WAIT.has(state)) return "wait";
    return new SchedulerError("AGENT_NOT_RUNNABLE", `Agent ${agentId} is ${state} and takes no tasks`, { details: { agent_id: agentId, state } });
  }

  async run(task: ScheduledTask, ctx: TaskContext): Promise<unknown> {
    const agent = await this.#lifecycle.getAgent(task.agent_id);
    const handler = this.#handlers.get(agent.id);
    const bodies = !handler && !agent.config.entrypoint && this.#bodies?.has(agent.config) ? this.#bodies : undefined;
    if (!handler && !agent.config.entrypoint && !bodies) {
      throw new SchedulerError("AGENT_NOT_RUNNABLE", `Agent ${agent.id} has neither a registered handler, an entrypoint nor a DSL body`, {
        details: { agent_id: agent.id },
      });
    }
    await this.#enterRunning(agent);
    try {
      if (handler) return await this.#runHandler(agent, handler, task, ctx);
      if (bodies) return await bodies.run(agent.config, task.input ?? null, { signal: ctx.signal, sandbox: () => this.ensureSandbox(agent.id) });
      if (!this.#programs) throw noSandbox();
      if (agent.config.execution_mode.type === "Persistent") return await this.#programs.runPersistent(agent, task, ctx.signal);
      return await this.#programs.runEphemeral(agent, task, ctx.signal, () => this.#takeInbox(agent.id));
    } finally {
      this.#leaveRunning(agent);
    }
  }

  /**
   * Healthy while the sandbox orchestrator answers (there is nothing else an executor slot depends on). Each
   * probe round also samples the agents' sandbox usage for ResourceBased balancing.
   */
  async probe(): Promise<boolean> {
    if (!this.#sandbox) return true;
    await this.#sandbox.listSandboxes();
    await this.#programs?.sample();
    return true;
  }

  /** Measured usage of the agent's sandbox (sampled every health check), for ResourceBased balancing. */
  usage(agentId: AgentId): ResourceUsage | undefined {
    return this.#programs?.usage(agentId);
  }

  // ---- sandboxes ----

  async ensureSandbox(agentId: AgentId): Promise<SandboxId> {
    if (!this.#programs) throw noSandbox();
    return this.#programs.ensureSandbox(await this.#lifecycle.getAgent(agentId));
  }

  async destroyAgentSandbox(agentId: AgentId): Promise<void> {
    await this.#programs?.destroy(agentId);
  }

  processCount(): number {
    return this.#programs?.liveProcesses ?? 0;
  }

  // ---- lifecycle hooks ----

  /**
   * At (re)initialization: listen for the agent's messages. A restart replaces a persistent agent's process
   * (a process that was started before is started again now; otherwise it starts on the first task or message).
   */
  async onInitialize(agent: AgentInstance): Promise<void> {
    if (this.#messaging && !this.#listening.has(agent.id)) {
      this.#listening.set(agent.id, this.#messaging.listen(agent, (m) => this.#deliverLogged(m)));
    }
    const programs = this.#programs;
    if (!programs || !programs.wasStarted(agent.id)) return;
    await programs.stopPersistent(agent.id);
    if (agent.config.execution_mode.type === "Persistent" && agent.config.entrypoint && !this.#handlers.has(agent.id)) {
      await programs.startPersistent(agent);
    }
  }

  /**
   * After a restart: learn the agent's state (the scheduler asks `readiness` for its re-queued tasks), listen
   * for its messages again, and start a fresh process for a Persistent program agent that was at work.
   */
  async onRecover(agent: AgentInstance): Promise<void> {
    this.#states.set(agent.id, agent.state);
    if (!INITIALIZED_STATES.has(agent.state)) return;
    if (this.#messaging && !this.#listening.has(agent.id)) {
      this.#listening.set(agent.id, this.#messaging.listen(agent, (m) => this.#deliverLogged(m)));
    }
    const atWork = agent.state === "Running" || agent.state === "Waiting";
    if (atWork && agent.config.execution_mode.type === "Persistent" && agent.config.entrypoint && !this.#handlers.has(agent.id)) {
      if (!this.#programs) throw noSandbox();
      await this.#programs.startPersistent(agent);
    }
  }

  async onTerminate(agent: AgentInstance): Promise<void> {
    this.#listening.get(agent.id)?.();
    this.#listening.delete(agent.id);
    await this.#programs?.destroy(agent.id);
  }

  // ---- messages ----

  async deliver(message: Message): Promise<void> {
    const agent = await this.#lifecycle.getAgent(message.to);
    const mode = agent.config.execution_mode.type;
    if (mode === "EventDriven") {
      if (!this.#tasks) throw new SchedulerError("AGENT_NOT_RUNNABLE", "No scheduler is attached to run event-driven tasks");
      await this.#tasks.scheduleTask({
        agent_id: agent.id,
        priority: message.priority,
        input: { message: { id: message.id, from: message.from, topic: message.topic, ...payloadFields(message.payload) } },
      });
      return;
    }
    const handler = this.#handlers.get(agent.id);
    if (handler) {
      await handler.onMessage?.({ id: message.id, from: message.from, topic: message.topic, ...payloadFields(message.payload) }, this.#context(agent.id));
      return;
    }
    if (agent.config.entrypoint && mode === "Persistent") {
      if (!this.#programs) throw noSandbox();
      await this.#programs.deliverPersistent(agent, message);
      return;
    }
    // An agent with a fresh process per task reads its messages when its next task starts.
    const inbox = this.#inbox.get(agent.id) ?? [];
    if (inbox.length >= this.#config.agent_inbox_size) {
      throw new SchedulerError("QUEUE_FULL", `Agent ${agent.id}'s inbox is full (${this.#config.agent_inbox_size} messages)`, {
        details: { agent_id: agent.id, agent_inbox_size: this.#config.agent_inbox_size },
      });
    }
    inbox.push(message);
    this.#inbox.set(agent.id, inbox);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#unsubscribe) u();
    for (const stop of this.#listening.values()) stop();
    this.#listening.clear();
    await this.#programs?.close();
  }

  // ---- internals ----

  async #deliverLogged(message: Message): Promise<void> {
    try {
      await this.deliver(message);
    } catch (err) {
      this.#logger.warn({ err, agent_id: message.to, message_id: message.id }, "message could not be handed to the agent");
      throw err;
    }
  }

  async #enterRunning(agent: AgentInstance): Promise<void> {
    this.#inflight.set(agent.id, (this.#inflight.get(agent.id) ?? 0) + 1);
    const state = this.#states.get(agent.id) ?? agent.state;
    if (state === "Ready" || state === "Completed") {
      await this.#lifecycle.transition(agent.id, "Running", "task started").catch((err: unknown) => {
        // Another task of the same agent got there first.
        if (this.#states.get(agent.id) !== "Running") throw err;
      });
    }
  }

  #leaveRunning(agent: AgentInstance): void {
    const n = (this.#inflight.get(agent.id) ?? 1) - 1;
    if (n > 0) {
      this.#inflight.set(agent.id, n);
      return;
    }
    this.#inflight.delete(agent.id);
    if (agent.config.execution_mode.type !== "Persistent" && this.#states.get(agent.id) === "Running") {
      this.#lifecycle.transition(agent.id, "Completed", "task finished").catch((err: unknown) => {
        this.#logger.debug({ err, agent_id: agent.id }, "agent left Running before its task finished");
      });
    }
  }

  #runHandler(agent: AgentInstance, handler: AgentHandler, task: ScheduledTask, task_ctx: TaskContext): Promise<unknown> {
    // An in-process handler cannot be killed: it is told to stop (signal) and its result is no longer awaited.
    return new Promise((resolve, reject) => {
      const off = task_ctx.onAbort(reject);
      const base = this.#context(agent.id);
      const ctx: HandlerContext = {
        task_id: task.id,
        agent_id: agent.id,
        get signal() {
          return task_ctx.signal;
        },
        send: base.send,
        subscribe: base.subscribe,
        log: base.log,
      };
      let out: unknown;
      try {
        out = handler.onTask(task.input ?? null, ctx);
      } catch (err) {
        off();
        reject(err);
        return;
      }
      if (!(out instanceof Promise)) {
        off();
        resolve(out);
        return;
      }
      out.then(
        (v) => {
          off();
          resolve(v);
        },
        (e: unknown) => {
          off();
          reject(e);
        },
      );
    });
  }

  #context(agentId: AgentId): AgentContext {
    return this.#agentParts(agentId).context;
  }

  #sessionHandlers(agentId: AgentId): SessionHandlers {
    return this.#agentParts(agentId).handlers;
  }

  #agentParts(agentId: AgentId): { handlers: SessionHandlers; context: AgentContext } {
    let parts = this.#perAgent.get(agentId);
    if (!parts) {
      const handlers = this.#makeSessionHandlers(agentId);
      const context: AgentContext = {
        send: (to, topic, payload) => handlers.send?.(to, topic, payload),
        subscribe: (topic) => handlers.subscribe?.(topic),
        log: (level, message) => handlers.log?.(level, message),
      };
      parts = { handlers, context };
      this.#perAgent.set(agentId, parts);
    }
    return parts;
  }

  #makeSessionHandlers(agentId: AgentId): SessionHandlers {
    return {
      send: (to, topic, payload) => void this.#send(agentId, to, topic, payload),
      subscribe: (topic) => {
        if (!this.#messaging) return this.#noMessaging(agentId, "subscribe", topic);
        this.#messaging.subscribe(agentId, topic).catch((err: unknown) => {
          this.#logger.warn({ err, agent_id: agentId, topic }, "agent subscribe failed");
        });
      },
      log: (level: LogLevel, message: string) => this.#logger[level]({ agent_id: agentId }, `agent: ${message}`),
      agentError: (message, errorType) => {
        const err = new SchedulerError("AGENT_TASK_FAILED", `The agent reported an error: ${message}`, {
          details: { agent_id: agentId, reason: message, ...(errorType ? { error_type: errorType } : {}) },
        });
        this.#errors?.handleError(agentId, err).catch((e: unknown) => this.#logger.warn({ err: e, agent_id: agentId }, "error handler failed"));
      },
      malformed: (reason, count) => {
        this.#logger.warn({ agent_id: agentId, reason, malformed: count }, "agent broke the protocol");
        this.#events.emit("agent.protocol_error", { agent_id: agentId, reason, malformed: count });
      },
    };
  }

  async #send(from: AgentId, to: string, topic: string, payload: unknown): Promise<void> {
    if (!this.#messaging) return this.#noMessaging(from, "send", topic, to);
    const sender = await this.#lifecycle.getAgent(from).catch(() => undefined);
    try {
      await this.#messaging.send({
        id: MessageId.new(),
        from,
        to: AgentId.parse(to),
        topic,
        payload: payloadBytes(payload),
        priority: sender?.config.priority ?? "Normal",
        ttl: 300_000,
      });
    } catch (err) {
      const e = toRuntimeError(err);
      this.#logger.warn({ err: e, agent_id: from, to, topic }, "agent message could not be sent");
      this.#events.emit("agent.send_failed", { agent_id: from, to, topic, code: e.code });
    }
  }

  #noMessaging(agentId: AgentId, what: string, topic: string, to = ""): void {
    this.#logger.warn({ agent_id: agentId, topic }, `agent ${what} refused: no message bus is wired`);
    this.#events.emit("agent.send_failed", { agent_id: agentId, to, topic, code: "MESSAGING_UNAVAILABLE" });
  }

  #crashed(agentId: AgentId, error: RuntimeError, busy: boolean): void {
    this.#logger.warn({ agent_id: agentId, err: error }, "persistent agent process died");
    // With tasks waiting, their failures reach the error handler through the scheduler; report only idle deaths.
    if (busy || this.#closed) return;
    this.#errors?.handleError(agentId, error).catch((e: unknown) => this.#logger.warn({ err: e, agent_id: agentId }, "error handler failed"));
  }

  #takeInbox(agentId: AgentId): Message[] {
    const inbox = this.#inbox.get(agentId) ?? [];
    this.#inbox.delete(agentId);
    return inbox;
  }

  #forget(agentId: AgentId): void {
    this.#states.delete(agentId);
    this.#perAgent.delete(agentId);
    this.#handlers.delete(agentId);
    this.#inbox.delete(agentId);
    this.#inflight.delete(agentId);
    this.#listening.get(agentId)?.();
    this.#listening.delete(agentId);
  }
}
