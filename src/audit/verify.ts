/**
 * Chain verification, shared by the live trail and offline verification of an export. It walks records in
 * sequence order, recomputing each hash, checking each link and each signed checkpoint, and stops at the
 * first problem, naming its sequence number and what kind of tampering explains it:
 *
 * - a sequence gap is a deletion; a record whose content no longer hashes is an edit;
 * - because the sequence number is inside the hashed bytes, a record moved elsewhere still hashes at its
 *   original number: found ahead of its place it is a reorder (something later belongs before it) or a
 *   renumbered deletion (nothing does); found behind, a reorder;
 * - a record that links to the record two back means the one between was inserted;
 * - any other broken link means the previous record was rewritten with a recomputed hash;
 * - checkpoints must be signed by the trusted key and match the chain at their sequence number, which
 *   catches a chain rewritten wholesale (every hash recomputed).
 */
import type { KeyObject } from "node:crypto";
import { canonicalWithSeq, GENESIS_HASH, hashCanonical, tailOf } from "./chain.js";
import { checkpointSignatureValid } from "./signing.js";
import type { ChainEntry, Checkpoint, IntegrityProblemKind, IntegrityReport } from "./types.js";

/** How far from its position a moved record is looked for. */
const SEARCH_WINDOW = 16;

export interface VerifyChainOptions {
  /** Expected prev_hash of the first record. Absent: a checkpoint at first-1 supplies it, else it is trusted. */
  readonly expectedPrevHash?: string;
  /** The seq the first record must have. Absent: whatever the first record has. */
  readonly startSeq?: number;
  /** Checkpoints in ascending seq order, including one just before the first record if there is one. */
  readonly checkpoints: readonly Checkpoint[];
  /** The trusted key; absent (a CSV export has no checkpoints), any checkpoint fails as wrong_key. */
  readonly publicKey?: KeyObject;
  readonly keyId: string;
  /** The range runs to the chain's end: a checkpoint beyond the last record means records were cut off. */
  readonly toEnd: boolean;
  /** false for filtered exports: each record and checkpoint is checked alone; links and gaps are not. */
  readonly contiguous?: boolean;
}

class Broken extends Error {
  constructor(
    readonly seq: number,
    readonly kind: IntegrityProblemKind,
    message: string,
  ) {
    super(message);
  }
}

/** The seq near `pos` at which `r` hashes correctly, if any. */
function originOf(r: ChainEntry, pos: number): number | undefined {
  const tail = tailOf(r.canonical);
  for (let d = 1; d <= SEARCH_WINDOW; d++) {
    for (const j of [pos + d, pos - d]) {
      if (j >= 1 && hashCanonical(r.prev_hash, canonicalWithSeq(j, tail)) === r.hash) return j;
    }
  }
  return undefined;
}

function hashesAt(r: ChainEntry, pos: number): number | undefined {
  return hashCanonical(r.prev_hash, canonicalWithSeq(pos, tailOf(r.canonical))) === r.hash ? pos : originOf(r, pos);
}

/**
 * Verifies records (ascending seq, in chunks) against their hashes, links and checkpoints. Never throws for
 * tampering: the report says what broke. Records are checked synchronously within a chunk; only fetching the
 * next chunk awaits. Each record comes as its canonical text, so checking one is a single hash.
 */
export async function verifyChain(chunks: AsyncIterable<readonly ChainEntry[]>, opts: VerifyChainOptions): Promise<IntegrityReport> {
  const iterator = chunks[Symbol.asyncIterator]();
  let buffer: readonly ChainEntry[] = [];
  let at = 0;
  /** Makes at least `n` unread records available unless the input ends first; returns how many are. */
  const fill = async (n: number): Promise<number> => {
    while (buffer.length - at < n) {
      const r = await iterator.next();
      if (r.done) break;
      buffer = at < buffer.length ? [...buffer.slice(at), ...r.value] : r.value;
      at = 0;
    }
    return buffer.length - at;
  };
  const peek = async (n: number): Promise<readonly ChainEntry[]> => {
    await fill(n);
    return buffer.slice(at, at + n);
  };

  const contiguous = opts.contiguous ?? true;
  const cps = opts.checkpoints;
  let ci = 0;
  let checked = 0;
  let cpChecked = 0;
  let sinceSigned = 0;
  let firstSeq = 0;
  let lastSeq = 0;
  let prev = opts.expectedPrevHash;
  let prevPrev: string | undefined;
  let k = opts.startSeq;

  const checkSignature = (cp: Checkpoint): void => {
    if (!opts.publicKey || cp.key_id !== opts.keyId) {
      throw new Broken(cp.seq, "wrong_key", `checkpoint at ${cp.seq} is signed by key ${cp.key_id}, not the trusted key ${opts.keyId}`);
    }
    if (!checkpointSignatureValid(cp, opts.publicKey)) {
      throw new Broken(cp.seq, "checkpoint_forged", `checkpoint at ${cp.seq} has a signature that does not verify with key ${opts.keyId}`);
    }
    cpChecked++;
  };

  try {
    await fill(1);
    const first = buffer[at];
    if (first) {
      firstSeq = first.seq;
      k ??= first.seq;
      if (k === 1) prev ??= GENESIS_HASH;
      // Checkpoints before the first record: the one right before it anchors the range (after pruning).
      while (ci < cps.length && (cps[ci] as Checkpoint).seq < k) {
        const cp = cps[ci++] as Checkpoint;
        if (cp.seq !== k - 1) continue;
        checkSignature(cp);
        if (prev === undefined) prev = cp.hash;
        else if (prev !== cp.hash) {
          throw new Broken(cp.seq, "checkpoint_mismatch", `checkpoint at ${cp.seq} does not match the record before the range`);
        }
      }
    }
    let lastSigned = 0;
    for (;;) {
      if (at >= buffer.length && (await fill(1)) === 0) break;
      const r = buffer[at++] as ChainEntry;
      const pos: number = contiguous ? (k as number) : r.seq;
      if (contiguous && r.seq !== pos) {
        if (r.seq > pos) {
          const ahead = await peek(SEARCH_WINDOW);
          if (ahead.some((a) => a.seq >= pos && a.seq < r.seq)) {
            throw new Broken(pos, "reordered", `record ${r.seq} appears before record ${pos}`);
          }
          const range = r.seq - 1 === pos ? `record ${pos} is` : `records ${pos}..${r.seq - 1} are`;
          throw new Broken(pos, "deleted", `${range} missing (the sequence jumps from ${pos - 1} to ${r.seq})`);
        }
        throw new Broken(pos, "reordered", `record ${r.seq} appears where record ${pos} belongs`);
      }
      if (hashCanonical(r.prev_hash, r.canonical) !== r.hash) {
        if (!contiguous) throw new Broken(pos, "edited", `record ${pos}'s content does not match its hash`);
        if (prevPrev !== undefined && r.prev_hash === prevPrev) {
          throw new Broken(pos - 1, "inserted", `record ${pos - 1} is not part of the chain: the next record was written to follow record ${pos - 2}`);
        }
        const origin = originOf(r, pos);
        if (origin === undefined) throw new Broken(pos, "edited", `record ${pos}'s content does not match its hash (edited)`);
        if (origin < pos) throw new Broken(pos, "reordered", `the record at ${pos} was written as record ${origin}`);
        const ahead = await peek(SEARCH_WINDOW);
        const earlierAhead = ahead.some((a, i) => {
          const o = hashesAt(a, pos + 1 + i);
          return o !== undefined && o < origin;
        });
        if (earlierAhead) throw new Broken(pos, "reordered", `the record at ${pos} was written as record ${origin}; records were swapped`);
        throw new Broken(pos, "deleted", `record ${pos}${origin - 1 > pos ? `..${origin - 1}` : ""} was deleted and later records renumbered`);
      }
      if (contiguous && prev !== undefined && r.prev_hash !== prev) {
        if (prevPrev !== undefined && r.prev_hash === prevPrev) {
          throw new Broken(pos - 1, "inserted", `record ${pos - 1} is not part of the chain: record ${pos} was written to follow record ${pos - 2}`);
        }
        throw new Broken(pos, "broken_link", `record ${pos} does not link to record ${pos - 1}: record ${pos - 1} was rewritten or records between them removed`);
      }
      checked++;
      sinceSigned++;
      while (ci < cps.length && (cps[ci] as Checkpoint).seq <= r.seq) {
        const cp = cps[ci++] as Checkpoint;
        if (cp.seq < r.seq) continue; // only in filtered exports: its record is not included
        checkSignature(cp);
        if (cp.hash !== r.hash) {
          throw new Broken(cp.seq, "checkpoint_mismatch", `the chain does not match the checkpoint signed at ${cp.seq}: records ${lastSigned + 1}..${cp.seq} were rewritten`);
        }
        lastSigned = cp.seq;
        sinceSigned = 0;
      }
      prevPrev = prev;
      prev = r.hash;
      lastSeq = r.seq;
      k = r.seq + 1;
    }
    if (contiguous && opts.toEnd && ci < cps.length) {
      const cp = cps[ci] as Checkpoint;
      checkSignature(cp);
      const from = lastSeq + 1;
      throw new Broken(from, "deleted", `a checkpoint was signed at ${cp.seq} but the chain ends at ${lastSeq}: records ${from}..${cp.seq} are missing`);
    }
  } catch (err) {
    if (!(err instanceof Broken)) throw err;
    return {
      valid: false,
      from_seq: firstSeq,
      to_seq: lastSeq,
      records_checked: checked,
      checkpoints_checked: cpChecked,
      first_broken_seq: err.seq,
      problem: { kind: err.kind, message: err.message },
      unsigned_records: sinceSigned,
      key_id: opts.keyId,
    };
  }
  return {
    valid: true,
    from_seq: firstSeq,
    to_seq: lastSeq,
    records_checked: checked,
    checkpoints_checked: cpChecked,
    first_broken_seq: null,
    problem: null,
    unsigned_records: sinceSigned,
    key_id: opts.keyId,
  };
}
