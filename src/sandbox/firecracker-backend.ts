/**
 * Tier3 `firecracker`: checks every piece a Firecracker microVM needs on this host — the firecracker
 * binary, a guest kernel, a root filesystem and a usable /dev/kvm — and names each one that is missing.
 * Booting guests and running commands in them needs a guest-side command agent over vsock, which this
 * build does not ship; that is reported as a missing piece too, so Tier3 is refused with TIER_UNAVAILABLE
 * rather than ever served by a weaker tier. A microVM backend plugs in behind the same `SandboxBackend`.
 */
import { constants } from "node:fs";
import { access, open, stat } from "node:fs/promises";
import type { SandboxSettings } from "../core/config/index.js";
import { SandboxError } from "../core/errors.js";
import type { BackendSandbox, SandboxBackend, TierAvailability } from "./backend.js";

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Lists what is missing for Firecracker on this host (empty when every host piece is present). */
export async function missingFirecrackerPieces(s: SandboxSettings["firecracker"]): Promise<string[]> {
  const missing: string[] = [];
  const binaryOk = await access(s.binary_path, constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!binaryOk) missing.push(`firecracker binary not found or not executable at ${s.binary_path} (sandbox.firecracker.binary_path)`);
  if (!(await isFile(s.kernel_path))) missing.push(`guest kernel not found at ${s.kernel_path} (sandbox.firecracker.kernel_path)`);
  if (!(await isFile(s.rootfs_path))) missing.push(`guest root filesystem not found at ${s.rootfs_path} (sandbox.firecracker.rootfs_path)`);
  try {
    const fh = await open(s.kvm_device, constants.O_RDWR);
    await fh.close();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    missing.push(
      code === "ENOENT"
        ? `${s.kvm_device} does not exist (no KVM on this host)`
        : `${s.kvm_device} is not usable (${code ?? (err as Error).message})`,
    );
  }
  return missing;
}

export class FirecrackerBackend implements SandboxBackend {
  readonly tier = "Tier3" as const;
  readonly name = "firecracker";
  #availability: Promise<TierAvailability> | undefined;

  constructor(private readonly settings: SandboxSettings["firecracker"]) {}

  prepare(): Promise<TierAvailability> {
    return (this.#availability ??= (async () => {
      const missing = await missingFirecrackerPieces(this.settings);
      missing.push("a guest command agent (vsock) for Firecracker is not part of this build");
      return {
        available: false as const,
        missing,
        howto:
          "Install firecracker, a guest kernel and rootfs, and set sandbox.firecracker.* to their paths on a host with a usable /dev/kvm.",
      };
    })());
  }

  async create(): Promise<BackendSandbox> {
    const a = await this.prepare();
    throw new SandboxError("TIER_UNAVAILABLE", "Tier3 (firecracker) cannot run on this host", {
      details: a.available ? {} : { missing: a.missing },
    });
  }

  async close(): Promise<void> {}
}
