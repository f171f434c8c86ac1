/**
 * DefaultAuditTrail: accepts records, commits them in batches through an `AuditStore`, signs checkpoints,
 * answers queries, verifies and exports.
 *
 * Writes go through one queue: records accepted in the same tick (or while a commit is in flight) are
 * committed together in one transaction, and each `recordEvent` promise resolves only after that commit.
 * Sequence numbers and hashes are assigned inside the store's transaction from the head it reads there, so a
 * failed commit leaves no hole and several processes can share one chain. A failed batch is rejected as a
 * whole (`AUDIT_WRITE_FAILED` / `AUDIT_STORE_UNAVAILABLE`) and reported on the event stream.
 */
import { randomUUID } from "node:crypto";
import type { Clock, TimerHandle } from "../core/clock.js";
import { AuditError, isRuntimeError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import { AgentId, AuditId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import { canonicalTail, canonicalWithSeq, GENESIS_HASH, hashCanonical, metadataJson } from "./chain.js";
import { exportRecords } from "./export.js";
import { encodeCursor, isAuditEventType, isFiltered, resolveQuery } from "./query.js";
import { auditEventFromRuntime } from "./recorder.js";
import { applyRetention, type RetentionOptions } from "./retention.js";
import type { CheckpointSigner } from "./signing.js";
import type {
  AppendPlan,
  AppendRecord,
  AuditEventInput,
  AuditPage,
  AuditQuery,
  AuditRecord,
  AuditStore,
  AuditTrail,
  ChainHead,
  Checkpoint,
  ExportFormat,
  IntegrityReport,
} from "./types.js";
import { verifyChain } from "./verify.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    /** A batch of audit records could not be committed; its callers were rejected. */
    "audit.write_failed": { code: string; message: string; records: number };
    /** Retention archived records from_seq..to_seq to `location` and pruned them from the store. */
    "audit.archived": { from_seq: number; to_seq: number; location: string };
  }
}

export interface AuditTrailOptions {
  /** @default 1000 */
  readonly checkpoint_every_records?: number;
  /** @default 60000 */
  readonly checkpoint_interval_ms?: number;
  /** @default 2000 */
  readonly max_batch_records?: number;
  /** Absent: no retention. */
  readonly retention?: RetentionOptions;
}

export interface AuditTrailDeps {
  readonly store: AuditStore;
  readonly signer: CheckpointSigner;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where `audit.*` events go and, with `recordRuntimeEvents`, where records come from. */
  readonly events?: EventStream;
  /** Subscribe to `events.onAny` and record every runtime event. @default false */
  readonly recordRuntimeEvents?: boolean;
  /** Close the store in `close()`. @default true */
  readonly ownsStore?: boolean;
  readonly options?: AuditTrailOptions;
}

/**
 * A validated record and its caller's promise. `#build` numbers and chains it in place, and it is the
 * `AppendRecord` its batch writes: one object per record from acceptance to commit, since thousands wait at
 * a time and what survives a young-generation collection is what collecting costs.
 */
interface Pending extends AppendRecord {
  seq: number;
  prev_hash: string;
  hash: string;
  readonly resolve: (id: AuditId) => void;
  readonly reject: (err: unknown) => void;
}

/** The id prefix of the last millisecond an id was minted in: records come in bursts within one. */
let idTime = { ms: Number.NaN, prefix: "" };

/**
 * Audit ids are UUIDv7 (time-ordered), so the id index grows at its right edge instead of taking random
 * page writes: the random part comes from `randomUUID`'s pooled entropy.
 */
function timeOrderedId(ms: number): AuditId {
  if (ms !== idTime.ms) {
    const t = Math.floor(ms).toString(16).padStart(12, "0").slice(-12);
    idTime = { ms, prefix: `${t.slice(0, 8)}-${t.slice(8, 12)}-7` };
  }
  return `${idTime.prefix}${randomUUID().slice(15)}` as AuditId;
}

/** `String.prototype.isWellFormed` (Node 20; newer than the TypeScript lib this project targets). */
const isWellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

const EMPTY_REPORT_BASE = { records_checked: 0, checkpoints_checked: 0, first_broken_seq: null, problem: null, unsigned_records: 0 };

function validationError(message: string, details?: Record<string, unknown>): AuditError {
  return new AuditError("AUDIT_QUERY_INVALID", message, details ? { details } : {});
}

export class DefaultAuditTrail implements AuditTrail {
  readonly #store: AuditStore;
  readonly #signer: CheckpointSigner;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #events: EventStream | undefined;
  readonly #ownsStore: boolean;
  readonly #every: number;
  readonly #intervalMs: number;
  readonly #maxBatch: number;
  readonly #retention: RetentionOptions | undefined;
  #pending: Pending[] = [];
  #writer: Promise<unknown> = Promise.resolve();
  #drainScheduled = false;
  #checkpointTimer: TimerHandle | undefined;
  #retentionTimer: TimerHandle | undefined;
  #unsubscribe: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(deps: AuditTrailDeps) {
    this.#store = deps.store;
    this.#signer = deps.signer;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: "audit" });
    this.#events = deps.events;
    this.#ownsStore = deps.ownsStore ?? true;
    this.#every = deps.options?.checkpoint_every_records ?? 1000;
    this.#intervalMs = deps.options?.checkpoint_interval_ms ?? 60_000;
    this.#maxBatch = deps.options?.max_batch_records ?? 2000;
    this.#retention = deps.options?.retention;
    this.#scheduleCheckpointTimer();
    if (this.#retention) this.#scheduleRetention(this.#retention.interval_ms);
    if (deps.recordRuntimeEvents && deps.events) {
      this.#unsubscribe = deps.events.onAny((event) => {
        const input = auditEventFromRuntime(event);
        if (!input || this.#closing) return;
        this.recordEvent(input).catch((err: unknown) => this.#logger.error({ err, event: event.type }, "could not record runtime event"));
      });
    }
  }

  get publicKeyPem(): string {
    return this.#signer.publicKeyPem;
  }

  get keyId(): string {
    return this.#signer.keyId;
  }

  recordEvent(event: AuditEventInput): Promise<AuditId> {
    if (this.#closing) return Promise.reject(new AuditError("AUDIT_TRAIL_CLOSED", "The audit trail is closed"));
    // A validation error thrown here rejects the promise returned.
    return new Promise<AuditId>((resolve, reject) => {
      this.#pending.push(this.#validate(event, resolve, reject));
      this.#scheduleDrain();
    });
  }

  #validate(e: AuditEventInput, resolve: Pending["resolve"], reject: Pending["reject"]): Pending {
    if (!isAuditEventType(e?.event_type)) throw validationError(`Unknown audit event type ${JSON.stringify(e?.event_type)}`);
    if (typeof e.details !== "string") throw validationError("Audit event details must be a string");
    // A lone surrogate has no UTF-8 form: the store would keep a replacement character and the record would
    // no longer match the hash taken over the original text.
    if (!isWellFormed.call(e.details)) throw validationError("Audit event details must be well-formed Unicode (no lone surrogates)");
    const given = e.metadata ?? {};
    const metadata: Record<string, string> = {};
    for (const k of Object.keys(given).sort()) {
      const v = given[k];
      if (typeof v !== "string") throw validationError(`Audit metadata value ${k} must be a string`, { key: k });
      if (!isWellFormed.call(k) || !isWellFormed.call(v)) throw validationError("Audit metadata must be well-formed Unicode (no lone surrogates)", { key: k });
      metadata[k] = v;
    }
    const timestamp = e.timestamp ?? this.#clock.now();
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw validationError("Audit event timestamp must be epoch ms", { timestamp });
    const id = e.id === undefined ? timeOrderedId(timestamp) : AuditId.parse(e.id);
    const agent_id = e.agent_id == null ? null : AgentId.parse(e.agent_id);
    const metadata_json = metadataJson(metadata);
    return { seq: 0, id, timestamp, event_type: e.event_type, agent_id, details: e.details, metadata, metadata_json, prev_hash: "", hash: "", resolve, reject };
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#writer.then(fn, fn);
    this.#writer = run.catch(() => undefined);
    return run;
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      void this.#exclusive(() => this.#drain());
    });
  }

  /** Chains `pending` onto `head`; signs the new head when a checkpoint is due (or forced). */
  #build(head: ChainHead, pending: Pending[], force: boolean): AppendPlan {
    let prev = head.hash;
    let seq = head.seq;
    for (const p of pending) {
      p.seq = ++seq;
      p.prev_hash = prev;
      // The canonical text is built here rather than kept from acceptance: a long-lived string per waiting
      // record cost more in collections than building it costs.
      p.hash = prev = hashCanonical(prev, canonicalWithSeq(seq, canonicalTail(p, p.metadata_json)));
    }
    const due = seq > head.checkpoint_seq && (force || seq - head.checkpoint_seq >= this.#every);
    const checkpoint = due ? this.#signer.sign({ seq, hash: prev, timestamp: this.#clock.now() }) : null;
    return { records: pending, checkpoint };
  }

  async #drain(): Promise<void> {
    while (this.#pending.length) {
      const batch = this.#pending.splice(0, this.#maxBatch);
      try {
        await this.#store.append((head) => this.#build(head, batch, false));
        for (const p of batch) p.resolve(p.id);
      } catch (err) {
        const error = isRuntimeError(err) ? err : new AuditError("AUDIT_WRITE_FAILED", `Audit append failed: ${String(err)}`, { cause: err });
        this.#logger.error({ err: error, records: batch.length }, "audit batch not committed");
        this.#events?.emit("audit.write_failed", { code: error.code, message: error.message, records: batch.length });
        for (const p of batch) p.reject(error);
      }
    }
  }

  flush(): Promise<void> {
    return this.#exclusive(() => this.#drain());
  }

  checkpoint(): Promise<Checkpoint | null> {
    return this.#exclusive(async () => {
      await this.#drain();
      const plan = await this.#store.append((head) => this.#build(head, [], true));
      return plan.checkpoint;
    });
  }

  #scheduleCheckpointTimer(): void {
    this.#checkpointTimer = this.#clock.setTimeout(() => {
      this.checkpoint()
        .catch((err: unknown) => this.#logger.error({ err }, "timed audit checkpoint failed"))
        .finally(() => {
          if (!this.#closing) this.#scheduleCheckpointTimer();
        });
    }, this.#intervalMs);
  }

  #scheduleRetention(ms: number): void {
    this.#retentionTimer = this.#clock.setTimeout(() => {
      this.applyRetention()
        .catch((err: unknown) => this.#logger.error({ err }, "audit retention failed"))
        .finally(() => {
          if (!this.#closing && this.#retention) this.#scheduleRetention(this.#retention.interval_ms);
        });
    }, ms);
  }

  async queryPage(query: AuditQuery = {}): Promise<AuditPage> {
    const q = resolveQuery(query);
    // Reads see every record accepted before them (those the runtime's events produced included).
    await this.flush();
    const rows = await this.#store.query({ ...q, limit: q.limit + 1 });
    if (rows.length <= q.limit) return { events: rows, next_cursor: null };
    const page = rows.slice(0, q.limit);
    return { events: page, next_cursor: encodeCursor(q.order, (page[page.length - 1] as AuditRecord).seq) };
  }

  async queryEvents(query: AuditQuery = {}): Promise<AuditRecord[]> {
    return [...(await this.queryPage(query)).events];
  }

  async getEvent(audit_id: AuditId): Promise<AuditRecord> {
    const id = AuditId.parse(audit_id);
    await this.flush();
    const record = await this.#store.getById(id);
    if (!record) throw new AuditError("AUDIT_EVENT_NOT_FOUND", `Audit event ${id} not found`, { details: { audit_id: id } });
    return record;
  }

  async verifyIntegrity(from_time?: number, to_time?: number): Promise<IntegrityReport> {
    if (from_time === undefined && to_time === undefined) return this.verifySequence();
    resolveQuery({ ...(from_time !== undefined ? { from_time } : {}), ...(to_time !== undefined ? { to_time } : {}) });
    const range = await this.#store.seqRangeForTime(from_time, to_time);
    if (!range) return { valid: true, from_seq: 0, to_seq: 0, ...EMPTY_REPORT_BASE, key_id: this.keyId };
    return this.verifySequence(range.first, range.last);
  }

  async verifySequence(from_seq?: number, to_seq?: number): Promise<IntegrityReport> {
    for (const [name, v] of [["from_seq", from_seq], ["to_seq", to_seq]] as const) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw validationError(`${name} must be a positive integer`, { [name]: v });
    }
    await this.flush();
    const head = await this.#store.head();
    const archive = (await this.#store.archives()).at(-1);
    const lowest = archive ? archive.to_seq + 1 : 1;
    const from = Math.max(from_seq ?? lowest, lowest);
    const to = Math.min(to_seq ?? head.seq, head.seq);
    if (head.seq === 0 || from > to) return { valid: true, from_seq: 0, to_seq: 0, ...EMPTY_REPORT_BASE, key_id: this.keyId };
    let expectedPrevHash: string | undefined;
    if (from === 1) expectedPrevHash = GENESIS_HASH;
    else if (archive && from === lowest) expectedPrevHash = archive.to_hash;
    else expectedPrevHash = (await this.#store.getBySeq(from - 1))?.hash;
    const toEnd = to === head.seq;
    const checkpoints = await this.#store.checkpoints(from - 1, toEnd ? Number.MAX_SAFE_INTEGER : to);
    return verifyChain(this.#store.scanChain(from, to), {
      ...(expectedPrevHash !== undefined ? { expectedPrevHash } : {}),
      startSeq: from,
      checkpoints,
      publicKey: this.#signer.publicKey,
      keyId: this.keyId,
      toEnd,
    });
  }

  async *exportStream(query: AuditQuery, format: ExportFormat): AsyncIterable<string> {
    const q = resolveQuery(query);
    // A whole-trail export is signed through its last record, so offline verification covers all of it.
    if (!isFiltered(q) && q.to_time === undefined) await this.checkpoint();
    else await this.flush();
    yield* exportRecords(this.#store, { publicKeyPem: this.publicKeyPem, keyId: this.keyId, now: this.#clock.now() }, q, format);
  }

  async exportEvents(query: AuditQuery, format: ExportFormat): Promise<Uint8Array> {
    const parts: Buffer[] = [];
    for await (const chunk of this.exportStream(query, format)) parts.push(Buffer.from(chunk, "utf8"));
    return new Uint8Array(Buffer.concat(parts));
  }

  async applyRetention(): Promise<number> {
    if (!this.#retention) return 0;
    const retention = this.#retention;
    const result = await applyRetention({
      store: this.#store,
      checkpoint: () => this.checkpoint(),
      exportInfo: () => ({ publicKeyPem: this.publicKeyPem, keyId: this.keyId, now: this.#clock.now() }),
      now: this.#clock.now(),
      options: retention,
    });
    if (!result) return 0;
    this.#logger.info({ ...result }, "audit records archived and pruned");
    this.#events?.emit("audit.archived", { from_seq: result.from_seq, to_seq: result.to_seq, location: result.location });
    await this.recordEvent({
      event_type: "AuditArchived",
      details: `Archived and pruned audit records ${result.from_seq}..${result.to_seq} to ${result.location}`,
      metadata: { from_seq: String(result.from_seq), to_seq: String(result.to_seq), location: result.location, pruned: String(result.pruned) },
    });
    return result.pruned;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#unsubscribe?.();
      this.#clock.clearTimeout(this.#checkpointTimer);
      this.#clock.clearTimeout(this.#retentionTimer);
      try {
        await this.#exclusive(async () => {
          await this.#drain();
          // Leave a signed head behind so everything recorded is covered by a signature.
          await this.#store.append((head) => this.#build(head, [], true));
        });
      } finally {
        if (this.#ownsStore) await this.#store.close();
      }
    })();
    return this.#closing;
  }
}
