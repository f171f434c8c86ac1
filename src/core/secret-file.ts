/**
 * A secret kept in a file of its own (a key-encryption key, a signing key): created 0600 in a 0700 directory
 * with an exclusive create when missing, refused when group or others can read it.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** What went wrong: the file could not be created, is readable by others, or could not be read. */
export type SecretFileProblem = "create" | "exposed" | "read";

/**
 * The file's bytes, written from `make()` first when it does not exist (`created` then true). `what` names the
 * secret in messages ("audit signing key"); `fail` turns a problem into the caller's error.
 */
export function loadOrCreateSecretFile(
  file: string,
  what: string,
  make: () => Buffer,
  fail: (problem: SecretFileProblem, message: string, cause?: unknown) => Error,
): { readonly bytes: Buffer; readonly created: boolean } {
  let stat;
  try {
    stat = statSync(file);
  } catch {
    stat = undefined;
  }
  if (!stat) {
    const bytes = make();
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, bytes, { mode: 0o600, flag: "wx" });
    } catch (err) {
      // Another process created it between stat and write: use theirs.
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return loadOrCreateSecretFile(file, what, make, fail);
      throw fail("create", `Cannot create the ${what} file ${file}`, err);
    }
    return { bytes, created: true };
  }
  if ((stat.mode & 0o077) !== 0) {
    throw fail("exposed", `The ${what} file ${file} is accessible by group or others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`);
  }
  try {
    return { bytes: readFileSync(file), created: false };
  } catch (err) {
    throw fail("read", `Cannot read the ${what} file ${file}`, err);
  }
}
