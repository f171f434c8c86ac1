/**
 * The audit trail's contracts: the spec's `AuditTrail`, `AuditEvent` and `AuditEventType`, the query and
 * report shapes, and `AuditStore`, the persistence seam with one SQLite and one PostgreSQL implementation.
 *
 * Records form a hash chain: record `n` stores `prev_hash` (the hash of record `n-1`, or `GENESIS_HASH` for
 * record 1) and `hash = SHA-256(prev_hash || canonical bytes of the record)` (see `chain.ts`). Every N records
 * or T ms the trail signs the head `(seq, hash)` with Ed25519: a `Checkpoint`.
 */
import type { AgentId, AuditId } from "../core/ids.js";

/**
 * The spec's eleven types, plus three of ours:
 * - `AgentStateChanged`: a lifecycle transition that is none of started/stopped/terminated/failed
 *   (Initializing, Ready, Waiting, Terminating);
 * - `RuntimeEvent`: any other runtime event, recorded under its name (`metadata.event`) rather than dropped;
 * - `AuditArchived`: retention archived and pruned records (written by the trail itself).
 */
export const AUDIT_EVENT_TYPES = [
  "AgentCreated",
  "AgentStarted",
  "AgentStopped",
  "AgentTerminated",
  "ResourceAllocated",
  "ResourceDeallocated",
  "MessageSent",
  "MessageReceived",
  "ErrorOccurred",
  "PolicyViolation",
  "SecurityEvent",
  "AgentStateChanged",
  "RuntimeEvent",
  "AuditArchived",
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** The spec's AuditEvent. `metadata` values are strings (the spec's `HashMap<String, String>`). */
export interface AuditEvent {
  readonly id: AuditId;
  /** Epoch ms. */
  readonly timestamp: number;
  readonly event_type: AuditEventType;
  readonly agent_id: AgentId | null;
  readonly details: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** What `recordEvent` accepts: `id` and `timestamp` are minted when absent. */
export interface AuditEventInput {
  readonly id?: AuditId;
  readonly timestamp?: number;
  readonly event_type: AuditEventType;
  readonly agent_id?: AgentId | null;
  readonly details: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A stored event with its place in the chain. */
export interface AuditRecord extends AuditEvent {
  /** 1, 2, 3, ... with no gaps. */
  readonly seq: number;
  /** Hex SHA-256 of the previous record (GENESIS_HASH for seq 1). */
  readonly prev_hash: string;
  /** Hex SHA-256(prev_hash || canonical bytes). */
  readonly hash: string;
}

/** A signed statement "the chain's record `seq` has hash `hash`". */
export interface Checkpoint {
  readonly seq: number;
  readonly hash: string;
  /** Epoch ms when signed. */
  readonly timestamp: number;
  /** First 16 hex digits of SHA-256 of the signer's SPKI public key. */
  readonly key_id: string;
  /** Base64 Ed25519 signature over `checkpointBytes` (chain.ts). */
  readonly signature: string;
}

export type AuditOrder = "asc" | "desc";

/** The spec's AuditQuery. All filters combine with AND. */
export interface AuditQuery {
  /** Inclusive, epoch ms. */
  readonly from_time?: number;
  /** Inclusive, epoch ms. */
  readonly to_time?: number;
  readonly event_types?: readonly AuditEventType[];
  readonly agent_id?: AgentId;
  /** Every key must be present with exactly this value. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Case-insensitive (ASCII) substring of `details`. */
  readonly text?: string;
  /** Page size; default 100, at most 10,000. */
  readonly limit?: number;
  /** `next_cursor` of the previous page. */
  readonly cursor?: string;
  /** By sequence number; default "asc". */
  readonly order?: AuditOrder;
}

/** A validated query as stores receive it: the cursor decoded to the last seq already returned. */
export interface ResolvedAuditQuery {
  readonly from_time?: number;
  readonly to_time?: number;
  readonly event_types?: readonly AuditEventType[];
  readonly agent_id?: AgentId;
  readonly metadata: readonly (readonly [string, string])[];
  readonly text?: string;
  readonly limit: number;
  readonly order: AuditOrder;
  /** Return only records after (asc) / before (desc) this seq. */
  readonly after_seq?: number;
}

export interface AuditPage {
  readonly events: readonly AuditRecord[];
  /** Pass as `cursor` for the next page; null when this page is the last. */
  readonly next_cursor: string | null;
}

export type ExportFormat = "json" | "ndjson" | "csv";

/** What went wrong at the first broken place (see `verify.ts`). */
export type IntegrityProblemKind =
  | "edited" // a record's content no longer matches its hash
  | "deleted" // records are missing (a gap, a renumbered deletion, or a truncated tail)
  | "reordered" // a record sits at another record's position
  | "inserted" // a record that the chain never contained
  | "broken_link" // prev_hash does not name the previous record (a record was rewritten with a new hash)
  | "checkpoint_mismatch" // a signed checkpoint disagrees with the chain: records at or before it were rewritten
  | "checkpoint_forged" // a checkpoint's signature does not verify
  | "wrong_key"; // a checkpoint was signed by a key other than the trusted one

export interface IntegrityProblem {
  readonly kind: IntegrityProblemKind;
  readonly message: string;
}

export interface IntegrityReport {
  readonly valid: boolean;
  /** The sequence range checked (0..0 when empty). */
  readonly from_seq: number;
  readonly to_seq: number;
  readonly records_checked: number;
  readonly checkpoints_checked: number;
  /** The first sequence number where the chain is broken; null when valid. */
  readonly first_broken_seq: number | null;
  readonly problem: IntegrityProblem | null;
  /** Records after the last checkpoint checked: chained but not yet signed. */
  readonly unsigned_records: number;
  /** The key checkpoints were checked against. */
  readonly key_id: string;
}

/** The spec's AuditTrail, plus paging, streaming export and checkpoint control. */
export interface AuditTrail {
  /** Resolves once the record is committed (never earlier); the id is then durable. */
  recordEvent(event: AuditEventInput): Promise<AuditId>;
  queryEvents(query?: AuditQuery): Promise<AuditRecord[]>;
  /** One page and the cursor to the next. */
  queryPage(query?: AuditQuery): Promise<AuditPage>;
  /** Recomputes the chain over records with timestamps in [from, to] (both optional) and checks checkpoints. */
  verifyIntegrity(from_time?: number, to_time?: number): Promise<IntegrityReport>;
  /** The same over a sequence range. */
  verifySequence(from_seq?: number, to_seq?: number): Promise<IntegrityReport>;
  getEvent(audit_id: AuditId): Promise<AuditRecord>;
  /** The whole export in memory (the spec's `Vec<u8>`); use `exportStream` for large exports. */
  exportEvents(query: AuditQuery, format: ExportFormat): Promise<Uint8Array>;
  exportStream(query: AuditQuery, format: ExportFormat): AsyncIterable<string>;
  /** Signs the current head now (no-op when it is already signed). */
  checkpoint(): Promise<Checkpoint | null>;
  /** Resolves once every record accepted so far is committed. */
  flush(): Promise<void>;
  /** Archives then prunes per the retention settings; returns the number of records pruned. */
  applyRetention(): Promise<number>;
  /** SPKI PEM of the checkpoint key, for offline verification. */
  readonly publicKeyPem: string;
  readonly keyId: string;
  /** Flushes, signs the head and closes the store it owns. Idempotent. */
  close(): Promise<void>;
}

/** The head of the chain as the store sees it inside an append transaction. */
export interface ChainHead {
  /** 0 when the chain is empty. */
  readonly seq: number;
  readonly hash: string;
  /** Seq of the newest checkpoint (0 when none). */
  readonly checkpoint_seq: number;
}

/** A record as an append writes it: with its metadata as canonical pairs JSON, the form stores keep. */
export interface AppendRecord extends AuditRecord {
  /** `metadataJson(metadata)` (chain.ts): the exact text the hash covers. */
  readonly metadata_json: string;
}

/** What one append transaction writes. */
export interface AppendPlan {
  readonly records: readonly AppendRecord[];
  readonly checkpoint: Checkpoint | null;
}

/** What verification reads of a record: its position, its chain hashes and its canonical text (chain.ts). */
export interface ChainEntry {
  readonly seq: number;
  readonly prev_hash: string;
  readonly hash: string;
  /** `canonicalJson` of the stored record, byte for byte. */
  readonly canonical: string;
}

/** A pruned range and where its archive went. */
export interface ArchiveEntry {
  readonly from_seq: number;
  readonly to_seq: number;
  /** Hash of record `to_seq` (also signed by the checkpoint at `to_seq`). */
  readonly to_hash: string;
  readonly location: string;
  readonly archived_at: number;
}

/**
 * Durable storage for one hash chain. The store owns its connection (a SQLite handle or a pg pool) and
 * closes it in `close()`. It knows nothing of hashing or signing: `append` hands the builder the head read
 * inside an exclusive transaction (so several processes may append to one chain) and commits what the
 * builder returns before resolving. Left out: filtering by anything not in `ResolvedAuditQuery`.
 */
export interface AuditStore {
  readonly kind: "sqlite" | "postgres";
  append(build: (head: ChainHead) => AppendPlan): Promise<AppendPlan>;
  head(): Promise<ChainHead>;
  /** Seq of the oldest record still stored (0 when empty). */
  firstSeq(): Promise<number>;
  getById(id: AuditId): Promise<AuditRecord | undefined>;
  getBySeq(seq: number): Promise<AuditRecord | undefined>;
  query(query: ResolvedAuditQuery): Promise<AuditRecord[]>;
  /** Records with from_seq <= seq <= to_seq in ascending order, in chunks (one read each). */
  scan(from_seq: number, to_seq: number): AsyncIterable<readonly AuditRecord[]>;
  /** The same records as verification reads them; the store builds the canonical text from what it holds. */
  scanChain(from_seq: number, to_seq: number): AsyncIterable<readonly ChainEntry[]>;
  /** The seq range of records with timestamps in [from, to]; undefined when none. */
  seqRangeForTime(from_time?: number, to_time?: number): Promise<{ first: number; last: number } | undefined>;
  checkpoints(from_seq: number, to_seq: number): Promise<Checkpoint[]>;
  /** Deletes records with seq <= entry.to_seq and remembers the archive, in one transaction. */
  prune(entry: ArchiveEntry): Promise<number>;
  archives(): Promise<ArchiveEntry[]>;
  close(): Promise<void>;
}
