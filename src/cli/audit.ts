/**
 * `symbiont audit verify <export-file>`: offline verification of an audit export (JSON, NDJSON or CSV) with
 * no runtime and no store. Prints the report; exits 0 when the chain and every checkpoint verify, 1 otherwise.
 * Pass the runtime's public key with `--public-key` (the file `symbiont` prints or the API serves): without
 * it the key inside the export is used, which proves consistency but not authorship.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { loadConfig, type RuntimeConfigInput } from "../core/config/index.js";
import { AuditError } from "../core/errors.js";

interface VerifyOptions {
  readonly publicKey?: string;
  readonly json?: boolean;
}

export async function auditVerify(file: string, options: VerifyOptions, out: NodeJS.WritableStream = process.stdout): Promise<void> {
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

export function registerAudit(program: Command): void {
  const audit = program.command("audit").description("work with the tamper-evident audit trail");
  audit
    .command("verify <export-file>")
    .description("verify an audit export offline: hash chain, sequence and signed checkpoints")
    .option("-k, --public-key <file>", "the runtime's audit public key (SPKI PEM) to trust")
    .option("--json", "print the report as JSON")
    .action((file: string, opts: VerifyOptions) => auditVerify(file, opts));
  audit
    .command("public-key")
    .description("print the audit checkpoint public key (SPKI PEM) to hand to whoever verifies exports")
    .option("-c, --config <file>", "YAML or JSON config file")
    .option("-d, --data-dir <dir>", "where embedded state lives (default ./.symbiont)")
    .action((opts: { config?: string; dataDir?: string }) => auditPublicKey(opts));
}
