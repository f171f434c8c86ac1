/**
 * Retention: prune old records without losing the ability to verify what remains. Records go only up to a
 * signed checkpoint: they are first written to an NDJSON archive (with their checkpoints, fsynced, renamed
 * into place, then verified), and only then deleted, in one transaction that also records the archive. The
 * checkpoint at the cut stays in the store, so the first remaining record links to a signed hash.
 */
import { mkdirSync, openSync, closeSync, fsyncSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { AuditError } from "../core/errors.js";
import { exportSeqRange, type ExportInfo } from "./export.js";
import { verifyExportFile } from "./export-verify.js";
import type { AuditStore, Checkpoint } from "./types.js";

export interface RetentionOptions {
  /** Prune records older than this many ms. */
  readonly max_age_ms?: number;
  /** Keep at most this many records. */
  readonly max_records?: number;
  readonly interval_ms: number;
  readonly archive_dir: string;
}

export interface RetentionDeps {
  readonly store: AuditStore;
  /** Signs the current head (so the newest records can be cut too). */
  checkpoint(): Promise<Checkpoint | null>;
  exportInfo(): ExportInfo;
  readonly now: number;
  readonly options: RetentionOptions;
}

export interface RetentionResult {
  readonly from_seq: number;
  readonly to_seq: number;
  readonly pruned: number;
  readonly location: string;
}

async function writeDurably(file: string, chunks: AsyncIterable<string>): Promise<void> {
  const tmp = `${file}.partial`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    for await (const chunk of chunks) writeSync(fd, chunk);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(join(file, ".."), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Archives and prunes what the options allow; undefined when nothing is due. */
export async function applyRetention(deps: RetentionDeps): Promise<RetentionResult | undefined> {
  const { store, options } = deps;
  const first = await store.firstSeq();
  if (!first) return undefined;
  const head = await store.head();
  let target = 0;
  if (options.max_records !== undefined) target = Math.max(target, head.seq - options.max_records);
  if (options.max_age_ms !== undefined) {
    const old = await store.seqRangeForTime(undefined, deps.now - options.max_age_ms);
    if (old) target = Math.max(target, old.last);
  }
  if (target < first) return undefined;
  await deps.checkpoint();
  const anchor = (await store.checkpoints(first, target)).at(-1);
  if (!anchor) return undefined;
  mkdirSync(options.archive_dir, { recursive: true, mode: 0o700 });
  const pad = (n: number): string => String(n).padStart(12, "0");
  const location = join(options.archive_dir, `audit-${pad(first)}-${pad(anchor.seq)}.ndjson`);
  const info = deps.exportInfo();
  await writeDurably(location, exportSeqRange(store, info, first, anchor.seq));
  const check = await verifyExportFile(location, { publicKeyPem: info.publicKeyPem });
  if (!check.valid || check.to_seq !== anchor.seq || check.from_seq !== first) {
    throw new AuditError("AUDIT_INTEGRITY_VIOLATION", `Refusing to prune: the archive ${location} does not verify (${check.problem?.message ?? "range mismatch"})`, {
      details: { location, first_broken_seq: check.first_broken_seq },
    });
  }
  const pruned = await store.prune({ from_seq: first, to_seq: anchor.seq, to_hash: anchor.hash, location, archived_at: deps.now });
  return { from_seq: first, to_seq: anchor.seq, pruned, location };
}
