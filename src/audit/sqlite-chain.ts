/**
 * How the SQLite store reads the chain for verification. Reading is most of what verifying a long range
 * costs, so SQLite assembles each record's text itself and hands back one string per row: no row array, no
 * separate sequence number (the canonical text carries it), one `concat` call rather than a copy per `||`.
 */
import type { ChainEntry } from "./types.js";

/**
 * A row's canonical text as `concat` arguments, built by SQLite. `json_array` writes each value as
 * `json_quote` would (the same function inside SQLite), which is exactly as `JSON.stringify` does for any
 * well-formed text (the trail refuses lone surrogates); its closing bracket gives way to the metadata column,
 * which already is canonical. A details value ends in a quote, digit or `l`, so `rtrim` takes exactly that
 * bracket. One call for the fixed fields costs less than a `json_quote` and a `concat` argument for each.
 */
const CANONICAL_PARTS = "rtrim(json_array(1, seq, id, ts, event_type, agent_id, details), ']'), ',', metadata, ']'";

/**
 * True when the column holds 64 ASCII characters (as many bytes as characters), so the concatenation below
 * splits by position into exactly the stored values. A pattern match for hex digits cost as much as hashing.
 */
const isHashSql = (column: string): string => `length(${column}) = 64 AND octet_length(${column}) = 64`;

/**
 * Per record in seq order, `prev_hash || hash || canonical` as one text. A row whose hash columns have
 * another length, or that predates schema 2 (its metadata is an object, not canonical pairs), comes back as
 * its bare seq (an integer) and is read whole instead.
 */
export const SCAN_CHAIN_SQL = `SELECT CASE WHEN ${isHashSql("prev_hash")} AND ${isHashSql("hash")} AND metadata GLOB '[[]*'
  THEN concat(prev_hash, hash, ${CANONICAL_PARTS}) ELSE seq END FROM audit_events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`;

/** Where the sequence number starts in a chain text: after both hashes and `[1,`. */
const SEQ_AT = 128 + 3;

/** The entry of a chain text (see SCAN_CHAIN_SQL): its seq is the one the canonical text was built with. */
export function chainEntryOf(text: string): ChainEntry {
  return {
    seq: Number(text.slice(SEQ_AT, text.indexOf(",", SEQ_AT))),
    prev_hash: text.slice(0, 64),
    hash: text.slice(64, 128),
    canonical: text.slice(128),
  };
}
