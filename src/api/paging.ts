/**
 * Cursor paging for lists the runtime holds in memory (dead letters, sandboxes). Items are ordered by a sort
 * key; the cursor is the key of the last item returned, so entries removed between two pages never shift the
 * next page (an offset would skip or repeat items).
 */
import { z } from "zod";
import { ValidationError } from "../core/errors.js";

export const MAX_PAGE = 1000;

/** `limit` (1..1000, default 100) and `cursor` query fields, shared by every paged list route. */
export const pageQueryFields = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
  cursor: z.string().min(1).max(512).optional(),
};

export interface Page<T> {
  readonly items: T[];
  readonly next_cursor: string | null;
}

function decode(cursor: string): string {
  const key = Buffer.from(cursor, "base64url").toString("utf8");
  if (!key.startsWith("k:")) throw new ValidationError("query", [{ path: "query.cursor", message: "not a cursor this list issued" }]);
  return key.slice(2);
}

/** A sort key for `(epoch ms, id)` that orders as strings the way the pair orders. */
export function timeKey(ms: number, id: string): string {
  return `${String(ms).padStart(16, "0")}:${id}`;
}

/** The page of `items` after `cursor`, in ascending `keyOf` order. */
export function pageOf<T>(items: readonly T[], keyOf: (item: T) => string, limit: number, cursor: string | undefined): Page<T> {
  const after = cursor === undefined ? undefined : decode(cursor);
  const keyed = items.map((item) => ({ item, key: keyOf(item) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const rest = after === undefined ? keyed : keyed.filter((k) => k.key > after);
  const page = rest.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map((k) => k.item),
    next_cursor: rest.length > limit && last ? Buffer.from(`k:${last.key}`, "utf8").toString("base64url") : null,
  };
}
