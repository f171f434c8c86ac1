import { z } from "zod";

const absolutePath = z.string().startsWith("/", "must be an absolute path");

/** Tier0: bubblewrap + a cgroup per sandbox. */
const processTierSchema = z
  .object({
    bwrap_path: z.string().min(1).default("bwrap"),
    setpriv_path: z.string().min(1).default("setpriv"),
    /** Host uid/gid the sandboxed processes run as (never root). */
    uid: z.number().int().positive().default(65534),
    gid: z.number().int().positive().default(65534),
    /** Host paths bound read-only into every sandbox (symlinks are recreated as symlinks; missing paths skipped). */
    ro_paths: z
      .array(absolutePath)
      .default(["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/alternatives", "/etc/ld.so.cache", "/etc/ssl"]),
    /** Name of the cgroup directory (under each controller / the v2 root) holding the sandboxes' cgroups. */
    cgroup_parent: z.string().regex(/^[A-Za-z0-9_.-]+$/).default("symbiont"),
  })
  .strict();

/** Tier1 (runc) and Tier2 (runsc) share the Docker engine settings. */
const dockerTierSchema = z
  .object({
    socket_path: absolutePath.default("/var/run/docker.sock"),
    /** Local image (see scripts/setup-host.sh; there is no registry). */
    image: z.string().min(1).default("local/symbiont-sandbox:1"),
    /** uid:gid commands run as inside the container. */
    user: z.string().regex(/^\d+:\d+$/).default("65534:65534"),
    /**
     * uid:gid of the container's init, distinct from `user` (and not root) so that killing every process of
     * the sandbox user after a timeout leaves the container itself running.
     */
    init_user: z.string().regex(/^\d+:\d+$/).default("65533:65533"),
    /** Pre-created containers per tier so create+start is fast. 0 disables the pool. */
    warm_pool_size: z.number().int().min(0).max(32).default(2),
    /** The OCI runtime name registered with dockerd for Tier2. */
    gvisor_runtime: z.string().min(1).default("runsc"),
    /** Size of the container's private /tmp, bytes. */
    tmpfs_bytes: z.number().int().positive().default(64 * 1024 * 1024),
  })
  .strict();

/** Tier3: a Firecracker microVM. Every path must exist and /dev/kvm must be usable, else TIER_UNAVAILABLE. */
const firecrackerTierSchema = z
  .object({
    binary_path: absolutePath.default("/usr/local/bin/firecracker"),
    kernel_path: absolutePath.default("/var/lib/symbiont/firecracker/vmlinux"),
    rootfs_path: absolutePath.default("/var/lib/symbiont/firecracker/rootfs.ext4"),
    kvm_device: absolutePath.default("/dev/kvm"),
  })
  .strict();

/**
 * Tier3 microVM (`microvm` backend): one VMM process per sandbox with its own guest kernel. `vmm: qemu` runs
 * QEMU's `microvm` machine (hardware-accelerated with `accel: kvm`, emulated with `tcg`; `auto` = kvm when the
 * host has VT-x/AMD-V and a test guest boots with it, else tcg). `vmm: firecracker` needs the firecracker
 * binary and a usable /dev/kvm (sandbox.firecracker.*) and is refused with TIER_UNAVAILABLE otherwise.
 */
const microvmTierSchema = z
  .object({
    vmm: z.enum(["qemu", "firecracker"]).default("qemu"),
    accel: z.enum(["kvm", "tcg", "auto"]).default("auto"),
    qemu_path: z.string().min(1).default("qemu-system-x86_64"),
    /** vmlinux + initramfs.gz built by scripts/build-microvm-assets.sh. */
    assets_dir: absolutePath.default("/var/lib/symbiont/microvm"),
    /** Saved VM states (the warm pool), one per guest memory size; defaults to `<assets_dir>/snapshots`. */
    snapshot_dir: absolutePath.optional(),
    /** Memory sizes (ResourceLimits.memory_mb) whose saved VM state is made at prepare; others on first use. */
    pool_memory_mb: z.array(z.number().int().min(4)).default([64]),
    /** Restore sandboxes from a saved VM state (fast); false = every sandbox cold-boots its kernel. */
    warm_pool: z.boolean().default(true),
    /** Restored, idle guests kept ready per pool_memory_mb size (each about 150 MB of host memory); 0 = restore on create. */
    pool_size: z.number().int().min(0).max(8).default(1),
    /** Guest RAM on top of memory_mb for the guest kernel and agent; sandbox processes get memory_mb. */
    guest_overhead_mb: z.number().int().min(32).default(96),
    /** Host memory the VMM process may use beyond the guest RAM (its cgroup limit = guest RAM + this). */
    vmm_overhead_mb: z.number().int().min(64).default(256),
    /** Processes and threads of one VMM process on the host. */
    vmm_pids: z.number().int().min(16).default(64),
    /** Size of the workspace image when the sandbox config does not set one, MiB. */
    workspace_mb: z.number().int().min(8).default(64),
    /** A guest that has not answered this long after boot is killed. */
    boot_timeout_ms: z.number().int().positive().default(120_000),
    /** How long past a command's timeout the host waits for the guest's answer before killing the VMM. */
    command_grace_ms: z.number().int().positive().default(20_000),
    /** Host uid/gid every sandbox's VMM runs as (never root); it only needs its own sandbox directory. */
    vmm_uid: z.number().int().positive().default(65534),
    vmm_gid: z.number().int().positive().default(65534),
  })
  .strict();

/** Sandbox orchestrator settings. Network is off and the root read-only unless a sandbox's config says otherwise. */
export const sandboxConfigSchema = z
  .object({
    default_tier: z.enum(["Tier0", "Tier1", "Tier2", "Tier3"]).default("Tier0"),
    /** Where sandbox workspaces live; defaults to `<data_dir>/sandboxes`. */
    workspace_root: z.string().min(1).optional(),
    /** Host path prefixes extra mounts may come from (each still checked against the forbidden list). */
    mount_allowlist: z.array(absolutePath).default([]),
    /** Cap on captured stdout and on stderr of one command, bytes each. */
    max_output_bytes: z.number().int().positive().default(1024 * 1024),
    /** Cap on one uploaded or downloaded file, bytes. */
    max_file_bytes: z.number().int().positive().default(64 * 1024 * 1024),
    /** Processes (and threads) one sandbox may hold at once: a fork bomb stops here. */
    pids_limit: z.number().int().min(8).default(256),
    /** Label value marking this runtime's containers; containers with it whose owner is gone are removed. */
    runtime_id: z.string().regex(/^[A-Za-z0-9_.-]+$/).default("symbiont"),
    /** Tiers made ready (probed, orphans removed, warm pool filled) at start-up instead of on first use. */
    prepare_tiers: z.array(z.enum(["Tier0", "Tier1", "Tier2", "Tier3"])).default([]),
    process: processTierSchema.prefault({}),
    docker: dockerTierSchema.prefault({}),
    firecracker: firecrackerTierSchema.prefault({}),
    microvm: microvmTierSchema.prefault({}),
  })
  .strict();

export type SandboxSettings = z.output<typeof sandboxConfigSchema>;
