import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AgentId } from "../core/ids.js";
import { auditVerify } from "../cli/audit.js";
import { run } from "../cli/main.js";
import { sqliteTrail, type TrailFixture } from "../../test/helpers/audit.js";
import { parseCsv } from "./csv.js";
import { CSV_COLUMNS } from "./export.js";
import { verifyExportFile } from "./export-verify.js";
import { generateSigner } from "./signing.js";
import type { AuditRecord, ExportFormat } from "./types.js";

const NASTY = [
  'comma, "quoted", and\nnewline',
  "crlf\r\nline two",
  " leading and trailing space ",
  'only "quotes"',
  "unicode: żółw 🐢 — done",
  "",
  "plain",
];

function sink(): { stream: Writable; text: () => string } {
  let text = "";
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    }),
    text: () => text,
  };
}

describe("audit export - formats, round trips and offline verification", () => {
  let fx: TrailFixture;
  let agent: AgentId;
  let records: AuditRecord[];

  beforeEach(async () => {
    fx = await sqliteTrail({ checkpoint_every_records: 4 });
    agent = AgentId.new();
    for (let i = 0; i < 14; i++) {
      await fx.trail.recordEvent({
        event_type: i % 2 ? "MessageSent" : "SecurityEvent",
        agent_id: i % 3 ? agent : null,
        details: NASTY[i % NASTY.length] as string,
        metadata: { n: String(i), "key, with comma": 'value "q"\nx' },
      });
      await fx.clock.advance(10);
    }
    records = await fx.trail.queryEvents({ limit: 1000 });
  });
  afterEach(() => fx.dispose());

  const write = async (format: ExportFormat, query = {}): Promise<string> => {
    const file = join(fx.dir, `export.${format}`);
    writeFileSync(file, await fx.trail.exportEvents(query, format));
    return file;
  };

  it("export - JSON holds every record exactly, the checkpoints and the public key", async () => {
    const doc = JSON.parse(readFileSync(await write("json"), "utf8")) as { header: { public_key: string; key_id: string }; records: AuditRecord[]; checkpoints: { seq: number }[] };
    expect(doc.records).toEqual(records);
    expect(doc.header.public_key).toBe(fx.trail.publicKeyPem);
    expect(doc.header.key_id).toBe(fx.trail.keyId);
    // Whole-trail exports are signed through the last record.
    expect(doc.checkpoints.map((c) => c.seq)).toEqual([4, 8, 12, 14]);
  });

  it("export - NDJSON is one header, one line per record, then the checkpoints", async () => {
    const lines = readFileSync(await write("ndjson"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]?.type).toBe("header");
    const recs = lines.filter((l) => l.type === "record").map(({ type: _t, ...r }) => r);
    expect(recs).toEqual(records);
    expect(lines.filter((l) => l.type === "checkpoint")).toHaveLength(4);
  });

  it("export - CSV quotes commas, quotes and newlines so every field round-trips", async () => {
    const text = readFileSync(await write("csv"), "utf8");
    const rows: string[][] = [];
    for await (const row of parseCsv([text])) rows.push(row);
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(records.length + 1);
    rows.slice(1).forEach((row, i) => {
      const r = records[i] as AuditRecord;
      expect(row).toEqual([String(r.seq), r.id, String(r.timestamp), r.event_type, r.agent_id ?? "", r.details, JSON.stringify(r.metadata), r.prev_hash, r.hash]);
    });
  });

  it("export - the CSV reader rejects malformed quoting", async () => {
    const read = async (t: string) => {
      for await (const _ of parseCsv([t])) void _;
    };
    await expect(read('a,"unterminated\n')).rejects.toThrow(/unterminated/);
    await expect(read('a,b"c\n')).rejects.toThrow(/quote inside/);
  });

  it("export - streaming yields the export in several chunks", async () => {
    const chunks: string[] = [];
    for await (const c of fx.trail.exportStream({}, "ndjson")) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(2);
  });

  for (const format of ["json", "ndjson", "csv"] as const) {
    it(`offline verify - an untouched ${format} export verifies`, async () => {
      const report = await verifyExportFile(await write(format), { publicKeyPem: fx.trail.publicKeyPem });
      expect(report).toMatchObject({ valid: true, records_checked: 14, from_seq: 1, to_seq: 14, format });
      expect(report.checkpoints_checked).toBe(format === "csv" ? 0 : 4);
    });
  }

  it("offline verify - one changed byte in an NDJSON export is 'edited' at its seq", async () => {
    const file = await write("ndjson");
    const text = readFileSync(file, "utf8").replace('"details":"plain"', '"details":"plaiN"');
    writeFileSync(file, text);
    const report = await verifyExportFile(file, { publicKeyPem: fx.trail.publicKeyPem });
    expect(report).toMatchObject({ valid: false, first_broken_seq: 7, problem: { kind: "edited" } });
  });

  it("offline verify - a removed or moved line is 'deleted' / 'reordered' at the right seq", async () => {
    const file = await write("ndjson");
    const lines = readFileSync(file, "utf8").split("\n");
    writeFileSync(file, lines.filter((_, i) => i !== 5).join("\n")); // line 5 is record seq 5
    expect(await verifyExportFile(file)).toMatchObject({ first_broken_seq: 5, problem: { kind: "deleted" } });
    const swapped = [...lines];
    [swapped[9], swapped[10]] = [swapped[10] as string, swapped[9] as string];
    writeFileSync(file, swapped.join("\n"));
    expect(await verifyExportFile(file)).toMatchObject({ first_broken_seq: 9, problem: { kind: "reordered" } });
  });

  it("offline verify - checked against another key, the checkpoints are 'wrong_key'", async () => {
    const report = await verifyExportFile(await write("json"), { publicKeyPem: generateSigner().publicKeyPem });
    expect(report).toMatchObject({ valid: false, first_broken_seq: 4, problem: { kind: "wrong_key" } });
  });

  it("offline verify - a filtered export checks each record and the checkpoints it contains", async () => {
    const file = await write("ndjson", { agent_id: agent });
    const report = await verifyExportFile(file, { publicKeyPem: fx.trail.publicKeyPem });
    expect(report.valid).toBe(true);
    expect(report.filtered).toBe(true);
    expect(report.records_checked).toBe(records.filter((r) => r.agent_id === agent).length);
  });

  it("offline verify - a file that is no audit export is AUDIT_EXPORT_INVALID", async () => {
    const file = join(fx.dir, "junk.txt");
    writeFileSync(file, "hello");
    await expect(verifyExportFile(file)).rejects.toMatchObject({ code: "AUDIT_EXPORT_INVALID" });
    writeFileSync(file, '{"type":"header","format":"symbiont-audit-export","public_key":"x"}\n{"type":"record","seq":"one"}\n');
    await expect(verifyExportFile(file)).rejects.toMatchObject({ code: "AUDIT_EXPORT_INVALID" });
  });

  it("cli - audit verify prints VALID for a good export and fails with AUDIT_INTEGRITY_VIOLATION for a tampered one", async () => {
    const file = await write("ndjson");
    const keyFile = join(fx.dir, "audit.pub");
    writeFileSync(keyFile, fx.trail.publicKeyPem);
    const out = sink();
    await auditVerify(file, { publicKey: keyFile }, out.stream);
    expect(out.text()).toMatch(/result:\s+VALID/);
    expect(out.text()).toContain("the key you gave");
    writeFileSync(file, readFileSync(file, "utf8").replace('"details":"plain"', '"details":"p1ain"'));
    const bad = sink();
    await expect(auditVerify(file, { publicKey: keyFile }, bad.stream)).rejects.toMatchObject({ code: "AUDIT_INTEGRITY_VIOLATION" });
    expect(bad.text()).toMatch(/BROKEN at seq 7: edited/);
  });

  it("cli - `symbiont audit verify` returns exit code 0 on a valid export and 1 on a broken one", async () => {
    const file = await write("json");
    const keyFile = join(fx.dir, "audit.pub");
    writeFileSync(keyFile, fx.trail.publicKeyPem);
    const argv = ["node", "symbiont", "audit", "verify", file, "--public-key", keyFile, "--json"];
    const writes = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const errors = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await run(argv)).toBe(0);
      expect(JSON.parse(String(writes.mock.calls[0]?.[0]))).toMatchObject({ valid: true, records_checked: 14 });
      writeFileSync(file, readFileSync(file, "utf8").replace(/"seq":3,/, '"seq":33,'));
      expect(await run(argv)).toBe(1);
      expect(String(errors.mock.calls[0]?.[0])).toContain("AUDIT_INTEGRITY_VIOLATION");
    } finally {
      writes.mockRestore();
      errors.mockRestore();
    }
  });
});

describe("audit export - temp dirs", () => {
  it("export - an empty trail exports a header and verifies as empty", async () => {
    const fx = await sqliteTrail();
    try {
      const file = join(fx.dir, "e.ndjson");
      writeFileSync(file, await fx.trail.exportEvents({}, "ndjson"));
      expect(await verifyExportFile(file)).toMatchObject({ valid: true, records_checked: 0 });
    } finally {
      await fx.dispose();
    }
  });
});

