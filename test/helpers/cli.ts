import { run } from "../../src/cli/main.js";

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs the `symbiont` CLI in-process against a running API at `url` with `key` (`<key_id>.<secret>`). */
export async function runCli(url: string, key: string, ...args: string[]): Promise<CliResult> {
  let out = "";
  let err = "";
  const code = await run(["node", "symbiont", "--url", url, "--key", key, ...args], {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
  });
  return { code, out, err };
}
