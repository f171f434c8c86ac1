/**
 * The StateStore contract: the runtime's durable state, one repository per kind of record. Two
 * implementations run one contract suite (`state-store.contract.ts`): SQLite (embedded, a file under
 * data_dir) and PostgreSQL (shared by several runtime nodes).
 *
 * Guarantees every implementation gives:
 * - A write's promise resolves only after its transaction committed (durably: WAL + fsync on SQLite,
 *   COMMIT on PostgreSQL). Writes issued close together share one transaction (group commit), so the
 *   durability cost is one fsync per batch, not per write; a write that fails is retried alone, so one bad
 *   write never fails its neighbours.
 * - Writes issued by one caller are applied in the order issued.
 * - Conditional writes (claim, finish, ack, advance) are compare-and-set: of two racing callers exactly one
 *   wins, which is what keeps a completed task from running twice and a message from being acked twice.
 *
 * Left out: audit records (`AuditStore`), policies (`PolicyStore`) and API keys (`ApiKeyStore`) have their
 * own stores owned by their components.
 *
 * Connections: the store owns its database handle or pool; `close()` flushes pending writes and releases it.
 */
import type { AgentId, MessageId, TaskId } from "../core/ids.js";
import type { AgentInstance, AgentState, Priority, ResourceAllocation } from "../core/types.js";

/** An agent as persisted: its config, state and counters (exactly `AgentInstance`). */
export type StoredAgent = AgentInstance;

export interface AgentRepository {
  /** Inserts or replaces the agent's row. */
  put(agent: StoredAgent): Promise<void>;
  remove(id: AgentId): Promise<void>;
  get(id: AgentId): Promise<StoredAgent | undefined>;
  /** Every stored agent, in the order they were first stored. */
  list(): Promise<StoredAgent[]>;
  count(): Promise<number>;
  countByState(): Promise<Record<AgentState, number>>;
}

export interface AllocationRepository {
  /** Inserts or replaces the allocation of `allocation.agent_id`. */
  put(allocation: ResourceAllocation): Promise<void>;
  remove(agentId: AgentId): Promise<void>;
  get(agentId: AgentId): Promise<ResourceAllocation | undefined>;
  list(): Promise<ResourceAllocation[]>;
}

/** Pending → Running → Completed | Failed | TimedOut; Pending or Running → Cancelled. */
export type TaskStatus = "Pending" | "Running" | "Completed" | "Failed" | "Cancelled" | "TimedOut";
export const TASK_STATUSES: readonly TaskStatus[] = ["Pending", "Running", "Completed", "Failed", "Cancelled", "TimedOut"];
export const FINISHED_TASK_STATUSES: readonly TaskStatus[] = ["Completed", "Failed", "Cancelled", "TimedOut"];

/** What a caller hands to `tasks.accept`: the spec's ScheduledTask plus an optional JSON input. */
export interface NewTask {
  readonly id: TaskId;
  readonly agent_id: AgentId;
  readonly priority: Priority;
  /** epoch ms: not claimable before this */
  readonly scheduled_time: number;
  /** ms */
  readonly timeout: number;
  readonly retry_count: number;
  /** JSON-serialisable input for the agent. */
  readonly payload?: unknown;
}

export interface StoredTask extends NewTask {
  readonly status: TaskStatus;
  /** How many times the task was claimed to run (a re-queue after a crash keeps it). */
  readonly attempts: number;
  /** Node that claimed it last (see `StoreConfig.node_id`). */
  readonly owner: string | null;
  readonly result: unknown;
  readonly error: string | null;
  readonly created_at: number;
  readonly updated_at: number;
  readonly started_at: number | null;
  readonly finished_at: number | null;
}

export type TaskOutcome =
  | { readonly status: "Completed"; readonly result?: unknown }
  | { readonly status: "Failed" | "TimedOut"; readonly error: string };

export interface TaskListFilter {
  readonly status?: TaskStatus;
  readonly agent_id?: AgentId;
  readonly limit?: number;
}

export interface TaskRepository {
  /**
   * Stores a new Pending task. Idempotent by id: a second accept of the same id changes nothing and returns
   * `accepted: false` with the task as stored (whatever its status), so a retried request never duplicates.
   */
  accept(task: NewTask, at: number): Promise<{ accepted: boolean; task: StoredTask }>;
  /**
   * Pending → Running for `owner`, attempts + 1. Returns undefined when the task is not Pending (already
   * claimed, finished or unknown): a finished task is never handed out again.
   */
  claim(id: TaskId, owner: string, at: number): Promise<StoredTask | undefined>;
  /**
   * Claims up to `limit` of the most urgent claimable tasks in one write (what a dispatcher wants): each
   * becomes Running for `owner` with attempts + 1, and each is handed to exactly one claimer.
   */
  claimNext(owner: string, now: number, limit: number): Promise<StoredTask[]>;
  /** The most urgent claimable tasks (Pending, scheduled_time <= now): priority, then scheduled_time. */
  nextPending(now: number, limit: number): Promise<StoredTask[]>;
  /** Running → a finished status with its result or error. False when the task was not Running. */
  finish(id: TaskId, outcome: TaskOutcome, at: number): Promise<boolean>;
  /** Running → Pending for a retry at `scheduled_time`, retry_count + 1. False when not Running. */
  retry(id: TaskId, scheduledTime: number, error: string, at: number): Promise<boolean>;
  /** Pending or Running → Cancelled. False when already finished or unknown. */
  cancel(id: TaskId, at: number): Promise<boolean>;
  /** Changes the priority of a task that has not finished. False otherwise. */
  updatePriority(id: TaskId, priority: Priority, at: number): Promise<boolean>;
  /** Moves a task that has not finished to another agent (failover). False otherwise. */
  reassign(id: TaskId, agentId: AgentId, at: number): Promise<boolean>;
  /**
   * Recovery at start: every task Running for `owner` goes back to Pending (at-least-once), keeping its
   * attempts. Returns the re-queued tasks.
   */
  requeueRunning(owner: string, at: number): Promise<StoredTask[]>;
  get(id: TaskId): Promise<StoredTask | undefined>;
  list(filter?: TaskListFilter): Promise<StoredTask[]>;
  countByStatus(): Promise<Record<TaskStatus, number>>;
  /** Deletes finished tasks that finished before `before`; returns how many. */
  pruneFinished(before: number): Promise<number>;
}

/** When the runtime was down past a schedule's run time: drop the missed runs, or run once and go on. */
export type MissedRunPolicy = "skip" | "run_once";

export interface StoredSchedule {
  readonly id: string;
  readonly agent_id: AgentId;
  /** ms between runs (when no cron) */
  readonly interval: number | null;
  /** 6-field cron, seconds first */
  readonly cron: string | null;
  readonly timezone: string | null;
  readonly next_run_at: number;
  readonly last_run_at: number | null;
  readonly missed_run_policy: MissedRunPolicy;
  readonly enabled: boolean;
  readonly payload?: unknown;
  readonly created_at: number;
  readonly updated_at: number;
}

export interface ScheduleRepository {
  put(schedule: StoredSchedule): Promise<void>;
  remove(id: string): Promise<void>;
  get(id: string): Promise<StoredSchedule | undefined>;
  list(): Promise<StoredSchedule[]>;
  /** Enabled schedules with next_run_at <= now, earliest first. */
  due(now: number, limit: number): Promise<StoredSchedule[]>;
  /**
   * Compare-and-set on next_run_at: moves the schedule on only if it is still due at `expectedNext`, so of
   * two nodes firing the same run exactly one wins. Returns whether this caller won.
   */
  advance(id: string, expectedNext: number, nextRunAt: number, lastRunAt: number, at: number): Promise<boolean>;
}

/**
 * Pending (accepted, waiting) → InFlight (claimed by a deliverer) → Delivered, Failed (dead-lettered) or
 * Expired; the final statuses are kept as dedupe tombstones (and answer status queries after a restart).
 */
export type MessageStatus = "Pending" | "InFlight" | "Delivered" | "Failed" | "Expired";
export const MESSAGE_STATUSES: readonly MessageStatus[] = ["Pending", "InFlight", "Delivered", "Failed", "Expired"];
/** The statuses a message ends in. */
export type FinalMessageStatus = "Delivered" | "Failed" | "Expired";

/** A bus message of the memory transport, accepted but maybe not yet delivered. `payload` is opaque bytes. */
export interface NewMessage {
  readonly id: MessageId;
  readonly from: AgentId;
  readonly to: AgentId;
  readonly topic: string;
  readonly priority: Priority;
  /** ms */
  readonly ttl: number;
  readonly payload: Uint8Array;
}

export interface StoredMessage extends NewMessage {
  readonly status: MessageStatus;
  readonly attempts: number;
  readonly accepted_at: number;
  readonly expires_at: number;
  /** When it reached its final status. */
  readonly delivered_at: number | null;
}

export interface MessageRepository {
  /** Stores a Pending message. Idempotent by id: a re-sent id (even one already delivered) is not stored twice. */
  accept(message: NewMessage, at: number): Promise<{ accepted: boolean }>;
  /**
   * Claims up to `limit` Pending, unexpired messages (for one recipient when `to` is given), oldest first,
   * marking them InFlight with attempts + 1. Each message is handed to exactly one claimer.
   */
  claim(limit: number, at: number, to?: AgentId): Promise<StoredMessage[]>;
  /**
   * Pending or InFlight → Delivered. True only for the first ack of an id: the delivery record is written
   * once. (A deliverer that holds messages in memory, like the bus's memory transport, acks them straight
   * from Pending.)
   */
  ack(id: MessageId, at: number): Promise<boolean>;
  /** Pending or InFlight → Failed or Expired (`settle(id, "Delivered")` is `ack`). True only the first time. */
  settle(id: MessageId, status: FinalMessageStatus, at: number): Promise<boolean>;
  /** InFlight → Pending (delivery failed; try again). False when not InFlight. */
  release(id: MessageId): Promise<boolean>;
  /** Recovery at start: InFlight → Pending. Returns how many. */
  requeueInFlight(): Promise<number>;
  /** Removes Pending messages past their expiry and returns them (the bus dead-letters them). */
  takeExpired(now: number, limit: number): Promise<StoredMessage[]>;
  get(id: MessageId): Promise<StoredMessage | undefined>;
  countByStatus(): Promise<Record<MessageStatus, number>>;
  /** Deletes final-status tombstones (Delivered, Failed, Expired) older than `before`; returns how many. */
  pruneDelivered(before: number): Promise<number>;
}

export interface DeadLetter {
  readonly id: string;
  /** What died: a bus message or a task. */
  readonly kind: "message" | "task";
  /** The message or task id. */
  readonly ref_id: string;
  readonly agent_id: AgentId | null;
  readonly reason: string;
  readonly attempts: number;
  readonly payload?: unknown;
  readonly created_at: number;
}

export interface DeadLetterRepository {
  /** Appends; when more than `capacity` entries are stored the oldest are dropped. Idempotent by id. */
  add(entry: DeadLetter, capacity: number): Promise<void>;
  /** Oldest first. */
  list(limit?: number): Promise<DeadLetter[]>;
  remove(id: string): Promise<boolean>;
  count(): Promise<number>;
}

/**
 * Communication-bus key pairs of registered agents, so messages persisted for them can still be verified
 * and opened after a restart. `sealed` is opaque here: the bus encrypts it at rest before storing it.
 */
export interface BusKeyRepository {
  put(agentId: AgentId, sealed: Uint8Array): Promise<void>;
  get(agentId: AgentId): Promise<Uint8Array | undefined>;
  remove(agentId: AgentId): Promise<void>;
  /** Every agent's stored keys, in the order they were first stored: one read at start-up, not one per agent. */
  list(): Promise<{ readonly agent_id: AgentId; readonly sealed: Uint8Array }[]>;
}

export interface StateStoreInfo {
  readonly kind: "sqlite" | "postgres" | "memory";
  /** The file, schema or ":memory:" the store works on; never a password. */
  readonly location: string;
  readonly schema_version: number;
}

export interface StateStore {
  readonly info: StateStoreInfo;
  readonly agents: AgentRepository;
  readonly allocations: AllocationRepository;
  readonly tasks: TaskRepository;
  readonly schedules: ScheduleRepository;
  readonly messages: MessageRepository;
  readonly deadLetters: DeadLetterRepository;
  readonly busKeys: BusKeyRepository;
  /** Transactions group commit made since open and the writes they held: how well writes are batched. */
  readonly commitStats: { readonly batches: number; readonly writes: number };
  /** Resolves once every write issued so far has committed. */
  flush(): Promise<void>;
  /** Flushes, then releases the connection. Idempotent; later calls fail with STORE_CLOSED. */
  close(): Promise<void>;
}

/** One numbered schema change, applied once, in order, at open. Released migrations are never edited. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}
