import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import { silentLogger } from "../core/logger.js";
import { requirement, TEST_POSTGRES_URL } from "../../test/helpers/requirements.js";
import { createAuditStore, DefaultAuditTrail, signerFromPem, type AuditStoreSpec } from "./index.js";

const pgUrl = process.env.TEST_POSTGRES_URL ?? TEST_POSTGRES_URL;
const pgReq = await requirement("postgres", async () => {
  const c = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 3000 });
  await c.connect();
  await c.end();
  return true;
});

const keyPem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();

/** Runs the writer child until it has acknowledged `target` records, kills it with SIGKILL, returns the acks. */
function runAndKill(args: string[], target: number): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/audit-writer.ts", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, AUDIT_TEST_KEY: keyPem },
    });
    const acks = new Map<string, number>();
    let buf = "";
    let stderr = "";
    let killed = false;
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^ack (\d+) (\S+)$/.exec(line);
        if (m) acks.set(m[2] as string, Number(m[1]));
      }
      if (!killed && acks.size >= target) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve(acks);
      else reject(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
}

async function checkSurvivors(spec: AuditStoreSpec, acks: Map<string, number>): Promise<void> {
  const store = await createAuditStore(spec);
  const trail = new DefaultAuditTrail({ store, signer: signerFromPem(keyPem), clock: new ManualClock(), logger: silentLogger() });
  try {
    const ids = new Set<string>();
    for await (const chunk of store.scan(1, Number.MAX_SAFE_INTEGER)) for (const r of chunk) ids.add(r.id);
    const lost = [...acks.keys()].filter((id) => !ids.has(id));
    expect(lost, `acknowledged but lost: ${lost.length}`).toEqual([]);
    const report = await trail.verifySequence();
    expect(report.valid, report.problem?.message).toBe(true);
    expect(report.records_checked).toBe(ids.size);
    // The restarted trail appends onto the surviving head.
    await trail.recordEvent({ event_type: "RuntimeEvent", details: "after restart" });
    expect((await trail.verifySequence()).valid).toBe(true);
  } finally {
    await trail.close();
  }
}

describe("audit durability - kill -9 mid-load", () => {
  it("durability - sqlite: every acknowledged record survives SIGKILL and the chain verifies", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-audit-kill-"));
    const path = join(dir, "audit.db");
    try {
      const acks = await runAndKill(["sqlite", path], 3000);
      expect(acks.size).toBeGreaterThanOrEqual(3000);
      await checkSurvivors({ kind: "sqlite", path }, acks);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.skipIf(!pgReq.available)("durability - postgres: every acknowledged record survives SIGKILL and the chain verifies", async () => {
    const schema = `symbiont_test_audit_kill_${randomBytes(4).toString("hex")}`;
    try {
      const acks = await runAndKill(["postgres", pgUrl, schema], 1000);
      await checkSurvivors({ kind: "postgres", url: pgUrl, schema }, acks);
    } finally {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }, 60_000);
});
