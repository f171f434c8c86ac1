/**
 * A bounded map from message ids (canonical UUIDs) to a number, oldest entry forgotten first, kept in typed
 * arrays. The bus remembers hundreds of thousands of ids (statuses, replay detection); as strings in a Map,
 * every one is a heap object the garbage collector copies and marks, which cost more than all the rest of
 * a message's handling. Here an id is its 16 bytes in an array the collector never looks into.
 *
 * Entries sit in insertion order in a ring of slots (updating a value keeps its place, as in a Map), so
 * forgetting the oldest costs nothing more than a removal; an open-addressing index (linear probing,
 * backward-shift deletion) finds them. An index entry carries the high bits of its id's hash beside the
 * slot number: a probe passing over other ids compares those instead of fetching their keys, which in a
 * large table are a cache miss each. Slots deleted out of order are reclaimed by compacting the ring,
 * only when it is full with a fifth of it dead, so that costs O(1) per insertion amortised.
 */
import { uuidBytes } from "./uuid-bytes.js";

const INITIAL_SLOTS = 1024;

export class IdTable {
  readonly #limit: number;
  /** 4 words per slot: the id's 16 bytes */
  #keys = new Int32Array(0);
  #values = new Float64Array(0);
  #hashes = new Int32Array(0);
  #alive = new Uint8Array(0);
  /** per bucket: slot + 1 in the bits of `#slotMask`, the id's hash in the bits above them (its tag); 0 = empty */
  #index = new Int32Array(0);
  /** enough bits for slot + 1 at the largest ring the limit allows */
  readonly #slotMask: number;
  #mask = 0;
  /** the oldest slot in use, and how many are in use from it on (live or deleted) */
  #head = 0;
  #used = 0;
  #size = 0;
  /**
   * The id whose bytes and hash are in the scratch words, shared by every table: a lookup is often followed by
   * a set of the same id, in this table or another (the bus checks replay ids, then records the status).
   * Single-threaded and only read right after `#find` fills it, so sharing it is safe.
   */
  static readonly #scratch = new Uint8Array(16);
  static readonly #words = new Int32Array(IdTable.#scratch.buffer);
  static #parsed = "";
  static #parsedHash = 0;

  /** At most `limit` ids are remembered; past it, the oldest is forgotten. */
  constructor(limit: number) {
    this.#limit = limit;
    this.#slotMask = 2 ** (32 - Math.clz32(Math.ceil(limit * 1.25))) - 1;
    this.#resize(Math.min(INITIAL_SLOTS, Math.ceil(limit * 1.25)));
  }

  get size(): number {
    return this.#size;
  }

  has(id: string): boolean {
    return this.#find(id) >= 0;
  }

  get(id: string): number | undefined {
    const slot = this.#find(id);
    return slot >= 0 ? this.#values[slot] : undefined;
  }

  /** Adds the id (as the newest) or updates its value in place. */
  set(id: string, value: number): void {
    const found = this.#find(id);
    if (found >= 0) {
      this.#values[found] = value;
      return;
    }
    const w = IdTable.#words;
    const hash = IdTable.#parsedHash;
    if (this.#size >= this.#limit) this.#evictOldest();
    if (this.#used === this.#alive.length) this.#makeRoom();
    const slot = (this.#head + this.#used++) % this.#alive.length;
    this.#keys.set(w, slot * 4);
    this.#values[slot] = value;
    this.#hashes[slot] = hash;
    this.#alive[slot] = 1;
    let b = hash & this.#mask;
    while (this.#index[b] !== 0) b = (b + 1) & this.#mask;
    this.#index[b] = (hash & ~this.#slotMask) | (slot + 1);
    this.#size++;
  }

  delete(id: string): boolean {
    const slot = this.#find(id);
    if (slot < 0) return false;
    this.#remove(slot);
    return true;
  }

  /** Deletes every entry whose value matches. */
  deleteWhere(pred: (value: number) => boolean): void {
    const slots = this.#alive.length;
    // Removing the head moves it: walk from where it was, over what was in use then.
    const head = this.#head;
    const used = this.#used;
    for (let k = 0; k < used; k++) {
      const slot = (head + k) % slots;
      if (this.#alive[slot] === 1 && pred(this.#values[slot] as number)) this.#remove(slot);
    }
  }

  /** The slot holding `id` (its bytes and hash left in the scratch words), or -1. */
  #find(id: string): number {
    const w = IdTable.#words;
    if (id !== IdTable.#parsed) {
      uuidBytes(id, IdTable.#scratch, 0);
      IdTable.#parsed = id;
      IdTable.#parsedHash = hashWords(w);
    }
    const keys = this.#keys;
    const hash = IdTable.#parsedHash;
    const slotMask = this.#slotMask;
    const w0 = w[0];
    const w1 = w[1];
    const w2 = w[2];
    const w3 = w[3];
    for (let b = hash & this.#mask; ; b = (b + 1) & this.#mask) {
      const entry = this.#index[b] as number;
      if (entry === 0) return -1;
      if (((entry ^ hash) & ~slotMask) !== 0) continue;
      const slot = (entry & slotMask) - 1;
      const k = slot * 4;
      if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return slot;
    }
  }

  #evictOldest(): void {
    if (this.#used > 0) this.#remove(this.#head);
  }

  #remove(slot: number): void {
    const mask = this.#mask;
    const slotMask = this.#slotMask;
    const index = this.#index;
    let hole = (this.#hashes[slot] as number) & mask;
    while (((index[hole] as number) & slotMask) !== slot + 1) hole = (hole + 1) & mask;
    // Backward-shift deletion: later entries of the same probe run move up, so lookups never need tombstones.
    for (let b = (hole + 1) & mask; index[b] !== 0; b = (b + 1) & mask) {
      const entry = index[b] as number;
      const home = (this.#hashes[(entry & slotMask) - 1] as number) & mask;
      const stays = hole <= b ? home > hole && home <= b : home > hole || home <= b;
      if (!stays) {
        index[hole] = entry;
        hole = b;
      }
    }
    index[hole] = 0;
    this.#alive[slot] = 0;
    this.#size--;
    // The head is always live (or nothing is in use), so the oldest is found at once.
    while (this.#used > 0 && this.#alive[this.#head] === 0) {
      this.#head = (this.#head + 1) % this.#alive.length;
      this.#used--;
    }
  }

  /** Every slot is in use: compact the ring, growing it when most of it is live. */
  #makeRoom(): void {
    const slots = this.#alive.length;
    const grown = Math.min(slots * 2, Math.max(slots, Math.ceil(this.#limit * 1.25)));
    this.#resize(this.#size * 5 > slots * 4 ? grown : slots);
  }

  #resize(slots: number): void {
    const keys = new Int32Array(slots * 4);
    const values = new Float64Array(slots);
    const hashes = new Int32Array(slots);
    const alive = new Uint8Array(slots);
    let buckets = 1;
    while (buckets < slots * 2) buckets *= 2;
    const index = new Int32Array(buckets);
    const mask = buckets - 1;
    let n = 0;
    const old = this.#alive.length;
    for (let k = 0; k < this.#used; k++) {
      const slot = (this.#head + k) % old;
      if (this.#alive[slot] !== 1) continue;
      for (let i = 0; i < 4; i++) keys[n * 4 + i] = this.#keys[slot * 4 + i] as number;
      values[n] = this.#values[slot] as number;
      const hash = this.#hashes[slot] as number;
      hashes[n] = hash;
      alive[n] = 1;
      let b = hash & mask;
      while (index[b] !== 0) b = (b + 1) & mask;
      index[b] = (hash & ~this.#slotMask) | (n + 1);
      n++;
    }
    this.#keys = keys;
    this.#values = values;
    this.#hashes = hashes;
    this.#alive = alive;
    this.#index = index;
    this.#mask = mask;
    this.#head = 0;
    this.#used = n;
  }
}

function hashWords(w: Int32Array): number {
  // Every word takes part: only some UUID versions are random throughout (v1 and v7 lead with a timestamp).
  let h = Math.imul((w[0] as number) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (w[1] as number) ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ (w[2] as number) ^ (h >>> 13), 0x85ebca6b);
  h = Math.imul(h ^ (w[3] as number) ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 15)) & 0x7fffffff;
}
