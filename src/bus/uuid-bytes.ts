/**
 * A canonical (lower- or upper-case 8-4-4-4-12) UUID string to its 16 bytes, hand-rolled: it runs several
 * times per message (envelope headers, id tables), where a regex or hex-string round trip showed in profiles.
 */

/** Hex digit values by char code (-1: not a hex digit). */
const HEX_VALUE = Int8Array.from({ length: 128 }, (_, c) => {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
});

/** Where each byte's two hex digits start in a canonical UUID. */
const UUID_HEX_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** Writes the bytes of `id`, which must be a validated (canonical) UUID, at `into[at..at+16)`. */
export function uuidBytes(id: string, into: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) {
    const p = UUID_HEX_AT[i] as number;
    into[at + i] = ((HEX_VALUE[id.charCodeAt(p)] as number) << 4) | (HEX_VALUE[id.charCodeAt(p + 1)] as number);
  }
}
