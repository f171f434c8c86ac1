import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../test/helpers/api.js";
import type { InProcessTaskRunner } from "../workflows/index.js";
import type { AgentId } from "../core/ids.js";
import { runCli } from "../../test/helpers/cli.js";
import { run } from "./main.js";

let api: TestApi;
let url: string;

beforeAll(async () => {
  api = await makeApi();
  url = await api.app.listen({ host: "127.0.0.1", port: 0 });
});
afterAll(async () => {
  await api.close();
});

const cli = (...args: string[]) => runCli(url, api.admin.slice("Bearer ".length), ...args);

describe("cli - client commands", () => {
  it("agents create|list|status|suspend|resume|stop|start|terminate over the API", async () => {
    const created = await cli("agents", "create", "--name", "cli-agent", "--capability", "gpu", "--meta", "team=ops", "--interval", "1.5");
    expect(created.code, created.err).toBe(0);
    const id = created.out.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const list = await cli("agents", "list");
    expect(list.out.split("\n")[0]).toMatch(/^ID\s+NAME\s+STATE$/);
    expect(list.out).toMatch(new RegExp(`${id}\\s+cli-agent\\s+Running`));
    const asJson = JSON.parse((await cli("agents", "list", "--json")).out) as { id: string; name: string }[];
    expect(asJson.find((a) => a.id === id)?.name).toBe("cli-agent");
    const status = JSON.parse((await cli("agents", "status", id, "--json")).out) as Record<string, unknown>;
    expect(status).toMatchObject({ agent_id: id, state: "Running", execution_mode: { Scheduled: { interval: { secs: 1, nanos: 500_000_000 } } } });
    expect((await cli("agents", "status", id)).out).toMatch(/state\s+Running/);
    for (const [verb, state] of [["suspend", "Suspended"], ["resume", "Running"], ["stop", "Completed"], ["start", "Running"]] as const) {
      expect((await cli("agents", verb, id)).out).toBe(`${id}  ${state}\n`);
    }
    expect((await cli("agents", "terminate", id)).out).toBe(`${id}  deleted\n`);
    const gone = await cli("agents", "status", id);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain("AGENT_NOT_FOUND");
  });

  it("keys create|list|revoke; the new key works until revoked", async () => {
    const created = await cli("keys", "create", "--name", "ci");
    expect(created.code).toBe(0);
    const key = created.out.trim();
    expect(created.err).toContain("not shown again");
    const keyId = key.split(".")[0] as string;
    expect((await cli("keys", "list")).out).toMatch(new RegExp(`${keyId}\\s+ci\\s+false`));
    let out = "";
    const asCi = await run(["node", "symbiont", "--url", url, "--key", key, "agents", "list"], { out: (t) => void (out += t), err: () => undefined });
    expect(asCi).toBe(0);
    expect((await cli("keys", "revoke", keyId)).out).toBe(`${keyId}  revoked\n`);
    let err = "";
    const after = await run(["node", "symbiont", "--url", url, "--key", key, "agents", "list"], { out: () => undefined, err: (t) => void (err += t) });
    expect(after).toBe(1);
    expect(err).toContain("UNAUTHORIZED");
  });

  it("workflows register|list|run with progress and output; failures exit non-zero", async () => {
    const a = (await cli("agents", "create", "--name", "cli-wf")).out.trim() as AgentId;
    (api.runtime.workflows.runner as InProcessTaskRunner).register(a, (input) => {
      const { n } = input as { n: unknown };
      if (typeof n !== "number") throw new TypeError("n must be a number");
      return { doubled: n * 2 };
    });
    const file = join(api.runtime.config.data_dir, "double.yaml");
    writeFileSync(file, "id: double\nsteps:\n  - id: d\n    agent: { name: cli-wf }\n    input: { n: '{{ parameters.n }}' }\n");
    expect((await cli("workflows", "register", file)).out).toBe("double  registered (1 steps)\n");
    expect((await cli("workflows", "list")).out).toMatch(/double\s+-\s+1\s+api/);
    const ran = await cli("workflows", "run", "double", "--param", "n=21");
    expect(ran.code, ran.err).toBe(0);
    expect(ran.err).toContain("step d: succeeded");
    expect(ran.out).toBe(`success\n${JSON.stringify({ doubled: 42 }, null, 2)}\n`);
    const asJson = JSON.parse((await cli("workflows", "run", "double", "--json", "--params-json", '{"n": 1}')).out) as Record<string, unknown>;
    expect(asJson).toMatchObject({ result: "success", output: { doubled: 2 } });
    const failed = await cli("workflows", "run", "double", "--param", "n=oops");
    expect(failed.code).toBe(1);
    expect(failed.out.split("\n")[0]).toBe("failure");
    const missing = await cli("workflows", "run", "nope");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("WORKFLOW_NOT_FOUND");
  });

  it("reports connection failures and usage errors with non-zero exits", async () => {
    let err = "";
    const code = await run(["node", "symbiont", "--url", "http://127.0.0.1:1", "agents", "list"], { out: () => undefined, err: (t) => void (err += t) });
    expect(code).toBe(1);
    expect(err).toContain("CONNECTION_FAILED");
    expect((await cli("agents", "create")).code).not.toBe(0);
    expect((await cli("agents", "frobnicate")).code).not.toBe(0);
  });
});
