/**
 * Host-side checks for the container tiers' tests: what a destroyed sandbox may have left behind.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

/** Containers named for the sandbox, and its workspace directory, still on the host. */
export async function dockerLeftovers(id: string, workspaceRoot: string): Promise<string[]> {
  const { default: Docker } = await import("dockerode");
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const containers = await docker.listContainers({ all: true, filters: { name: [`symbiont-${id}`] } });
  const left = containers.map((c) => `container ${c.Id}`);
  if (existsSync(join(workspaceRoot, id))) left.push(join(workspaceRoot, id));
  return left;
}
