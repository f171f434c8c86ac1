/**
 * Tools: commands declared in the runtime config (`dsl.tools`) that an agent calls by name. A call runs the
 * command in the calling agent's sandbox through the `SandboxOrchestrator` (the orchestrator applies the
 * sandbox's isolation and limits), with the arguments as JSON on stdin; stdout is read as JSON when it parses.
 * An undeclared name gives `{status: "not_executed"}` — never a made-up success. Policy is checked by the
 * DSL host before the registry is asked.
 */
import { DslError } from "../core/errors.js";
import type { SandboxId } from "../core/ids.js";
import type { SandboxOrchestrator } from "../sandbox/types.js";

export interface ToolSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly description?: string;
  /** Per-call timeout, ms (default: the sandbox's execution_timeout). */
  readonly timeout_ms?: number;
  /** The tool needs the network: the call is also checked as `sandbox.network`. */
  readonly network: boolean;
}

export interface ToolInput {
  readonly args: readonly unknown[];
  readonly named: Readonly<Record<string, unknown>>;
}

export type ToolResult =
  | { readonly status: "not_executed"; readonly tool: string; readonly reason: string }
  | {
      readonly status: "ok" | "failed";
      readonly tool: string;
      readonly exit_code: number;
      /** stdout as JSON when it parses, else as text. */
      readonly output: unknown;
      readonly stderr: string;
      readonly timed_out: boolean;
      readonly duration_ms: number;
    };

export interface ToolRegistry {
  get(name: string): ToolSpec | undefined;
  list(): readonly ToolSpec[];
  /** Runs `name` in `sandboxId`. The registry does not own the orchestrator or the sandbox. */
  call(name: string, input: ToolInput, sandboxId: SandboxId | undefined): Promise<ToolResult>;
}

export class SandboxToolRegistry implements ToolRegistry {
  readonly #tools = new Map<string, ToolSpec>();

  constructor(
    tools: readonly ToolSpec[],
    private readonly orchestrator: SandboxOrchestrator | undefined,
  ) {
    for (const t of tools) this.#tools.set(t.name, t);
  }

  get(name: string): ToolSpec | undefined {
    return this.#tools.get(name);
  }

  list(): readonly ToolSpec[] {
    return [...this.#tools.values()];
  }

  async call(name: string, input: ToolInput, sandboxId: SandboxId | undefined): Promise<ToolResult> {
    const spec = this.#tools.get(name);
    if (!spec) {
      const known = [...this.#tools.keys()];
      return {
        status: "not_executed",
        tool: name,
        reason: `no tool named '${name}' is declared${known.length ? ` (declared: ${known.join(", ")})` : " (dsl.tools is empty)"}`,
      };
    }
    if (!this.orchestrator || !sandboxId) {
      throw new DslError("TOOL_UNAVAILABLE", `tool '${name}' cannot run: ${this.orchestrator ? "the agent has no sandbox" : "no sandbox orchestrator is wired to the tool registry"}`, {
        details: { tool: name },
      });
    }
    const r = await this.orchestrator.executeCommand(sandboxId, spec.command, spec.args, {
      stdin: JSON.stringify(input),
      ...(spec.timeout_ms !== undefined ? { timeout_ms: spec.timeout_ms } : {}),
    });
    let output: unknown = r.stdout;
    try {
      if (r.stdout.trim() !== "") output = JSON.parse(r.stdout);
    } catch {
      output = r.stdout;
    }
    return {
      status: r.exit_code === 0 && !r.timed_out ? "ok" : "failed",
      tool: name,
      exit_code: r.exit_code,
      output,
      stderr: r.stderr,
      timed_out: r.timed_out,
      duration_ms: r.duration_ms,
    };
  }
}
