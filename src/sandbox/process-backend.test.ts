import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { requirement } from "../../test/helpers/requirements.js";
import type { SandboxId } from "../core/ids.js";
import { describeSandboxContract, makeSandboxHarness } from "./sandbox.contract.js";

/** cgroup directories named after the sandbox, in any hierarchy, left on the host. */
function cgroupDirs(id: SandboxId): string[] {
  const found: string[] = [];
  for (const h of ["memory", "pids", "cpu", "cpuacct", "."]) {
    const base = join("/sys/fs/cgroup", h, "symbiont");
    if (!existsSync(base)) continue;
    for (const inst of readdirSync(base)) {
      const dir = join(base, inst, id);
      if (existsSync(dir)) found.push(dir);
    }
  }
  return found;
}

await describeSandboxContract({
  name: "process",
  tier: "Tier0",
  leftovers: async (id, h) => {
    const left = cgroupDirs(id);
    if (existsSync(join(h.workspaceRoot, id))) left.push(join(h.workspaceRoot, id));
    return left;
  },
});

const h = await makeSandboxHarness({ default_tier: "Tier0" });
const proc = await requirement("process", async () => {
  try {
    await h.orchestrator.prepareTier("Tier0");
    return true;
  } catch (err) {
    return (err as Error).message;
  }
});

describe.skipIf(!proc.available)("process tier - specifics", () => {
  it("process tier - network enabled by policy reaches host loopback (the positive control of the escape test)", async () => {
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.end("banner\n");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      h.denied.delete("sandbox.network");
      const id = await h.orchestrator.createSandbox(h.config({ network_config: { enabled: true } }));
      await h.orchestrator.startSandbox(id);
      const r = await h.orchestrator.executeCommand(id, "sh", ["-c", `busybox nc -w 2 127.0.0.1 ${port} </dev/null`]);
      expect(r.stdout).toBe("banner\n");
      expect(connections).toBe(1);
      await h.orchestrator.destroySandbox(id);
    } finally {
      h.denied.add("sandbox.network");
      server.close();
    }
  });

  it("process tier - commands run as an unprivileged user with no capabilities and no nested namespaces", async () => {
    const id = await h.orchestrator.createSandbox(h.config());
    await h.orchestrator.startSandbox(id);
    const r = await h.orchestrator.executeCommand(id, "sh", ["-c", "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; unshare -U true; echo unshare=$?"]);
    expect(r.stdout).toContain("65534\n");
    expect(r.stdout).toMatch(/CapEff:\s+0000000000000000/);
    expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
    expect(r.stdout).not.toContain("unshare=0");
    await h.orchestrator.shutdown();
    await h.close();
  });
});
