/**
 * `symbiont audit ...`. `verify <export-file>`: offline verification of an audit export (JSON, NDJSON or CSV)
 * with no runtime and no store; prints the report and exits 0 when the chain and every checkpoint verify, 1
 * otherwise. Pass the runtime's public key with `--public-key` (the file `audit public-key` prints or the API
 * serves): without it the key inside the export is used, which proves consistency but not authorship.
 * `query` and `export` talk to a running runtime over the API (`--url`, `--key`).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import type { Command } from "commander";
import { loadConfig, type RuntimeConfigInput } from "../core/config/index.js";
import { AuditError } from "../core/errors.js";
import { action, collect } from "./remote.js";
import { json, processIo, table, type Io } from "./output.js";

interface VerifyOptions {
  readonly publicKey?: string;
  readonly json?: boolean;
}

export async function auditVerify(file: string, options: VerifyOptions, out: { write(text: string): unknown } = process.stdout): Promise<void> {
  let publicKeyPem: string | undefined;
  if (options.publicKey) {
    try {
      publicKeyPem = readFileSync(options.publicKey, "utf8");
    } catch (err) {
      throw new AuditError("AUDIT_SIGNING_KEY_INVALID", `Cannot read the public key file ${options.publicKey}: ${(err as Error).message}`, { cause: err });
    }
  }
  // Loaded on use so other commands do not pay for the audit modules at start-up.
  const { verifyExportFile } = await import("../audit/export-verify.js");
  const report = await verifyExportFile(file, publicKeyPem ? { publicKeyPem } : {});
  if (options.json) out.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const lines = [
      `file:         ${file} (${report.format}${report.filtered ? ", filtered: links between records not checked" : ""})`,
      `records:      ${report.records_checked} (seq ${report.from_seq}..${report.to_seq})`,
      `checkpoints:  ${report.checkpoints_checked} verified, key ${report.key_id} (${
        report.key_source === "given" ? "the key you gave" : report.key_source === "export" ? "taken from the export: compare it with the runtime's key" : "CSV has no checkpoints: signatures not checked"
      })`,
      `unsigned:     ${report.unsigned_records} record(s) after the last checkpoint`,
      report.valid ? "result:       VALID" : `result:       BROKEN at seq ${report.first_broken_seq}: ${report.problem?.kind}: ${report.problem?.message}`,
    ];
    out.write(`${lines.join("\n")}\n`);
  }
  if (!report.valid) {
    throw new AuditError("AUDIT_INTEGRITY_VIOLATION", `audit export is broken at seq ${report.first_broken_seq} (${report.problem?.kind})`, {
      details: { first_broken_seq: report.first_broken_seq, kind: report.problem?.kind },
    });
  }
}

/** Prints the public half of the runtime's checkpoint key (from config or the data dir's key file). */
export async function auditPublicKey(options: { config?: string; dataDir?: string }, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const { auditSigner } = await import("../audit/index.js");
  const overrides: Record<string, unknown> = {};
  if (options.dataDir !== undefined) overrides.data_dir = options.dataDir;
  const config = loadConfig({ ...(options.config ? { file: options.config } : {}), overrides: overrides as RuntimeConfigInput });
  out.write(auditSigner(config).publicKeyPem);
}

interface FilterOptions {
  readonly agent?: string;
  readonly type?: string[];
  readonly from?: string;
  readonly to?: string;
  readonly text?: string;
}

function filterParams(o: FilterOptions): URLSearchParams {
  const q = new URLSearchParams();
  if (o.agent) q.set("agent_id", o.agent);
  for (const t of o.type ?? []) q.append("event_type", t);
  if (o.from) q.set("from", o.from);
  if (o.to) q.set("to", o.to);
  if (o.text) q.set("text", o.text);
  return q;
}

function withFilters(cmd: Command): Command {
  return cmd
    .option("--agent <id>", "only this agent's records")
    .option("--type <event_type>", "only this event type (repeatable)", collect)
    .option("--from <time>", "from this time (ISO-8601 or epoch ms)")
    .option("--to <time>", "up to this time (ISO-8601 or epoch ms)")
    .option("--text <text>", "details containing this text (case-insensitive)");
}

interface AuditPage {
  events: Record<string, unknown>[];
  next_cursor: string | null;
}

/** Writes to `file` through a temporary name, renamed only once every byte arrived and was synced. */
async function toFile(file: string, fill: (sink: { write(chunk: Uint8Array): void }) => Promise<number>): Promise<number> {
  const partial = `${file}.partial`;
  const fd = openSync(partial, "w", 0o600);
  try {
    const bytes = await fill({ write: (chunk) => void writeSync(fd, chunk) });
    fsyncSync(fd);
    closeSync(fd);
    renameSync(partial, file);
    return bytes;
  } catch (err) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw err;
  }
}

function registerRemoteAudit(audit: Command, io: Io): void {
  withFilters(audit.command("query").description("query audit records on a running runtime (newest first)"))
    .option("--limit <n>", "records per page (1-1000)", "50")
    .option("--order <order>", "asc | desc", "desc")
    .option("--cursor <cursor>", "continue after a previous page")
    .option("--json", "print JSON instead of a table")
    .action(
      action(io, async ({ client, io, asJson }, opts: FilterOptions & { limit: string; order: string; cursor?: string }) => {
        const q = filterParams(opts);
        q.set("limit", opts.limit);
        q.set("order", opts.order);
        if (opts.cursor) q.set("cursor", opts.cursor);
        const page = await client.get<AuditPage>(`/audit/events?${q.toString()}`);
        if (asJson) return io.out(json(page));
        io.out(table(page.events, ["seq", "timestamp", "event_type", "agent_id", "details"]));
        if (page.next_cursor) io.err(`more records: --cursor ${page.next_cursor}\n`);
      }),
    );
  withFilters(audit.command("export").description("download an audit export that `audit verify` checks offline"))
    .option("-f, --format <format>", "json | ndjson | csv", "ndjson")
    .option("-o, --output <file>", "write here instead of standard output")
    .action(
      action(io, async ({ client, io }, opts: FilterOptions & { format: string; output?: string }) => {
        const q = filterParams(opts);
        q.set("format", opts.format);
        const path = `/audit/export?${q.toString()}`;
        if (opts.output) {
          const bytes = await toFile(opts.output, (sink) => client.download(path, sink));
          io.err(`wrote ${bytes} bytes to ${opts.output}\n`);
          return;
        }
        const decoder = new TextDecoder();
        await client.download(path, { write: (chunk) => io.out(decoder.decode(chunk, { stream: true })) });
        io.out(decoder.decode());
      }),
    );
}

export function registerAudit(program: Command, io: Io = processIo): void {
  const audit = program.command("audit").description("work with the tamper-evident audit trail");
  audit
    .command("verify <export-file>")
    .description("verify an audit export offline: hash chain, sequence and signed checkpoints")
    .option("-k, --public-key <file>", "the runtime's audit public key (SPKI PEM) to trust")
    .option("--json", "print the report as JSON")
    .action((file: string, opts: VerifyOptions) => auditVerify(file, opts, { write: (text: string) => io.out(text) }));
  audit
    .command("public-key")
    .description("print the audit checkpoint public key (SPKI PEM) to hand to whoever verifies exports")
    .option("-c, --config <file>", "YAML or JSON config file")
    .option("-d, --data-dir <dir>", "where embedded state lives (default ./.symbiont)")
    .action((opts: { config?: string; dataDir?: string }) => auditPublicKey(opts));
  registerRemoteAudit(audit, io);
}
