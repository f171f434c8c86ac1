/**
 * Capped capture of a command's stdout/stderr. Output past the cap is drained and dropped (never buffered,
 * and never left in the pipe, where it would block the writer and turn a chatty command into a timeout).
 */
import { StringDecoder } from "node:string_decoder";
import type { CommandResult } from "./types.js";

export class CappedOutput {
  readonly #chunks: Buffer[] = [];
  #size = 0;
  #truncated = false;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): void {
    const room = this.maxBytes - this.#size;
    if (room <= 0) {
      if (chunk.length > 0) this.#truncated = true;
      return;
    }
    if (chunk.length > room) {
      this.#chunks.push(chunk.subarray(0, room));
      this.#size += room;
      this.#truncated = true;
      return;
    }
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  /** The captured bytes as UTF-8; a multi-byte character cut by the cap is dropped, not mangled. */
  text(): string {
    const decoder = new StringDecoder("utf8");
    return this.#chunks.map((c) => decoder.write(c)).join("");
  }
}

/** 128 + signal number, the shell's convention for "killed by a signal". */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const signals: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGSEGV: 11, SIGABRT: 6 };
  return 128 + (signal ? (signals[signal] ?? 1) : 1);
}

/** A finished command as every backend reports it: its captured output plus how it ended. */
export function commandResult(
  out: CappedOutput,
  err: CappedOutput,
  ended: { readonly exit_code: number; readonly duration_ms: number; readonly timed_out: boolean; readonly oom_killed: boolean },
): CommandResult {
  return { ...ended, stdout: out.text(), stderr: err.text(), truncated: out.truncated || err.truncated };
}
