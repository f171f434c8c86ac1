import { existsSync } from "node:fs";
import { join } from "node:path";
import type { SandboxId } from "../core/ids.js";
import { describeSandboxContract } from "./sandbox.contract.js";

/** Containers named or labelled for the sandbox, and its workspace directory, left on the host. */
export async function dockerLeftovers(id: SandboxId, workspaceRoot: string): Promise<string[]> {
  const { default: Docker } = await import("dockerode");
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const containers = await docker.listContainers({ all: true, filters: { name: [`symbiont-${id}`] } });
  const left = containers.map((c) => `container ${c.Id}`);
  if (existsSync(join(workspaceRoot, id))) left.push(join(workspaceRoot, id));
  return left;
}

await describeSandboxContract({
  name: "docker",
  tier: "Tier1",
  leftovers: (id, h) => dockerLeftovers(id, h.workspaceRoot),
});
