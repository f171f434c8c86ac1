/**
 * Random (v4) UUIDs as flat strings. `crypto.randomUUID` draws from a pooled CSPRNG buffer too, but builds its
 * text by concatenating 20 pieces, which V8 keeps as a tree of cons strings until the first hash flattens it:
 * garbage of several hundred bytes per id, and ids are minted per task (the enqueue path is benchmarked) and
 * used as map keys at once. Here a batch of ids is written as text into one byte buffer, and each id is
 * copied out of it as a single flat string.
 */
import { randomFillSync } from "node:crypto";

const BATCH = 256;
// allocUnsafeSlow: memory of their own, not a slice of the pool other Buffers are cut from.
const random = Buffer.allocUnsafeSlow(16 * BATCH);
const text = Buffer.allocUnsafeSlow(36 * BATCH);
const HEX = Buffer.from("0123456789abcdef", "latin1");
const DASH = 0x2d;
let next = BATCH;

/** Writes the next batch: fresh random bytes with the version (4) and variant (10xx) bits set, as text. */
function refill(): void {
  randomFillSync(random);
  let o = 0;
  for (let i = 0; i < BATCH; i++) {
    const b = i * 16;
    random[b + 6] = ((random[b + 6] as number) & 0x0f) | 0x40;
    random[b + 8] = ((random[b + 8] as number) & 0x3f) | 0x80;
    for (let j = 0; j < 16; j++) {
      if (j === 4 || j === 6 || j === 8 || j === 10) text[o++] = DASH;
      const byte = random[b + j] as number;
      text[o++] = HEX[byte >> 4] as number;
      text[o++] = HEX[byte & 0x0f] as number;
    }
  }
  next = 0;
}

/** A random UUID v4, lower case. */
export function randomUuid(): string {
  if (next === BATCH) refill();
  const at = next++ * 36;
  return text.toString("latin1", at, at + 36);
}
