/**
 * One microVM guest: the QEMU process (`-M microvm`, one vCPU, no network, QEMU's seccomp sandbox) and the
 * command protocol to the guest agent (`scripts/microvm-init.sh`) over a virtio-serial port wired to the
 * VMM's stdin/stdout. Requests are a header line followed by base64 payloads of announced length; every
 * answer is one line `R <id> <rc> <flags> <b64> <b64>`; long-lived processes stream `O|E <id> <b64>` lines.
 * The guest owns nothing on the host but what this class started: the VMM process (in the sandbox's host
 * cgroup) and its console log, both released by `kill()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { SandboxError } from "../core/errors.js";

/**
 * The host cgroup is joined before exec, so every VMM thread is charged to it from the start; then the VMM
 * drops to its unprivileged user (no groups but /dev/kvm's, no capabilities) before QEMU itself starts.
 */
const JOIN_CGROUP = 'for f in $SYMBIONT_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; exec "$@"';

export interface GuestReply {
  readonly rc: number;
  readonly flags: string;
  readonly fields: readonly Buffer[];
}

/** Receives a long-lived process's output; `onEnd` when the VMM is gone before the process's answer. */
export interface StreamSink {
  onData(tag: "O" | "E", chunk: Buffer): void;
  onEnd(): void;
}

export interface GuestLaunch {
  readonly qemu: string;
  readonly args: readonly string[];
  /** cgroup.procs files the VMM joins (empty: none). */
  readonly cgroupProcs: readonly string[];
  /** Runs the VMM as this user (util-linux setpriv); absent only for warm-pool templates, which run no sandbox code. */
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
  /** Saved VM state to restore from (`-incoming fd:3`). */
  readonly statePath?: string;
  readonly consolePath: string;
}

/** Kernel messages kept for errors: the last lines of the serial console. */
export async function consoleTail(path: string, bytes = 2048): Promise<string> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.slice(-bytes).trim();
}

export class QemuGuest {
  readonly #child: ChildProcess;
  readonly #pending = new Map<string, { resolve: (r: GuestReply) => void; reject: (e: Error) => void }>();
  readonly #sinks = new Map<string, StreamSink>();
  #buffered: Buffer[] = [];
  #stderr = "";
  #seq = 0;
  #ready: Promise<void>;
  #exitInfo: string | undefined;
  /** Set by kill(): the VMM was ended by us, not by a crash. */
  #killed = false;
  readonly exited: Promise<string>;

  private constructor(
    readonly launch: GuestLaunch,
    child: ChildProcess,
    awaitBanner: boolean,
  ) {
    this.#child = child;
    let markReady!: () => void;
    this.#ready = awaitBanner ? new Promise<void>((r) => (markReady = r)) : Promise.resolve();
    child.stdout!.on("data", (c: Buffer) => this.#onData(c, markReady));
    child.stderr!.on("data", (c: Buffer) => (this.#stderr = (this.#stderr + c.toString()).slice(-4096)));
    child.stdin!.on("error", () => undefined);
    this.exited = new Promise<string>((resolve) => {
      const done = (why: string) => {
        this.#exitInfo ??= why;
        const err = new SandboxError("SANDBOX_BACKEND_FAILED", `the microVM is gone: ${this.#exitInfo}`);
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
        for (const [id, sink] of this.#sinks) {
          sink.onEnd();
          this.#sinks.delete(id);
        }
        resolve(this.#exitInfo);
      };
      child.once("error", (e) => done(`cannot run ${launch.qemu}: ${e.message}`));
      child.once("exit", (code, signal) =>
        done(`VMM exited (${signal ?? `code ${code}`})${this.#stderr.trim() ? `: ${this.#stderr.trim().slice(-600)}` : ""}`),
      );
    });
  }

  /** Starts the VMM; resolves once the process is launched (the guest may still be booting). */
  static async start(launch: GuestLaunch): Promise<QemuGuest> {
    const stdio: (string | number)[] = ["pipe", "pipe", "pipe"];
    let stateFd: Awaited<ReturnType<typeof open>> | undefined;
    if (launch.statePath) {
      stateFd = await open(launch.statePath, "r");
      stdio.push(stateFd.fd);
    }
    try {
      const u = launch.user;
      const drop = u
        ? ["setpriv", "--reuid", String(u.uid), "--regid", String(u.gid), ...(u.groups.length ? ["--groups", u.groups.join(",")] : ["--clear-groups"]), "--inh-caps=-all", "--"]
        : [];
      const child = spawn("/bin/sh", ["-c", JOIN_CGROUP, "symbiont-vmm", ...drop, launch.qemu, ...launch.args], {
        env: { SYMBIONT_CGROUP_PROCS: launch.cgroupProcs.join(" ") },
        stdio: stdio as ("pipe" | number)[],
      });
      return new QemuGuest(launch, child, !launch.statePath);
    } finally {
      await stateFd?.close();
    }
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Whether the VMM ended without kill() being called (a guest panic or a VMM crash). */
  get crashed(): boolean {
    return this.#exitInfo !== undefined && !this.#killed;
  }

  get alive(): boolean {
    return this.#exitInfo === undefined;
  }

  #onData(chunk: Buffer, markReady: () => void): void {
    let start = 0;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
      this.#buffered.push(chunk.subarray(start, i));
      const line = Buffer.concat(this.#buffered).toString("latin1");
      this.#buffered = [];
      start = i + 1;
      this.#onLine(line, markReady);
    }
    if (start < chunk.length) this.#buffered.push(chunk.subarray(start));
  }

  #onLine(line: string, markReady: () => void): void {
    if (line === "@@READY") {
      markReady();
      return;
    }
    const parts = line.split(" ");
    const [kind, id] = parts;
    if (!id) return;
    if (kind === "O" || kind === "E") {
      this.#sinks.get(id)?.onData(kind, Buffer.from(parts[2] ?? "", "base64"));
      return;
    }
    if (kind !== "R") return;
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    this.#sinks.delete(id);
    p.resolve({
      rc: Number(parts[2]),
      flags: parts[3] ?? "-",
      fields: parts.slice(4).map((f) => Buffer.from(f, "base64")),
    });
  }

  /** Resolves when the agent has announced itself after a cold boot (immediately after a restore). */
  async ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the guest did not come up within ${timeoutMs} ms`)), timeoutMs);
    });
    const gone = this.exited.then((why) => Promise.reject(new Error(why)));
    try {
      await Promise.race([this.#ready, timeout, gone]);
    } finally {
      clearTimeout(timer);
    }
  }

  newId(): string {
    return `${(++this.#seq).toString(36)}${randomBytes(3).toString("hex")}`;
  }

  /** Sends a header line and its payloads (each base64-encoded, lengths appended to the header by the caller). */
  write(header: string, payloads: readonly string[] = []): void {
    if (!this.alive) throw new SandboxError("SANDBOX_BACKEND_FAILED", `the microVM is gone: ${this.#exitInfo}`);
    this.#child.stdin!.write(Buffer.from(`${header}\n${payloads.join("")}`, "latin1"));
  }

  /** Sends a request and waits for its `R` answer. */
  request(id: string, header: string, payloads: readonly string[] = [], sink?: StreamSink): Promise<GuestReply> {
    const answer = new Promise<GuestReply>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    if (sink) this.#sinks.set(id, sink);
    try {
      this.write(header, payloads);
    } catch (err) {
      this.#pending.delete(id);
      this.#sinks.delete(id);
      throw err;
    }
    return answer;
  }

  /** A request that must be answered within `graceMs`. */
  async ask(verb: string, args: readonly string[], payloads: readonly string[], graceMs: number): Promise<GuestReply> {
    const id = this.newId();
    const answer = this.request(id, [verb, id, ...args].join(" "), payloads);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        answer,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new SandboxError("SANDBOX_BACKEND_FAILED", `the guest agent did not answer ${verb} within ${graceMs} ms`)), graceMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILLs the VMM and waits until it is gone. Idempotent. */
  async kill(): Promise<void> {
    if (this.alive) {
      this.#killed = true;
      this.#child.kill("SIGKILL");
    }
    await this.exited;
  }

  /** Asks the guest to sync and power off; kills it when it does not within `ms`. */
  async shutdown(ms: number): Promise<void> {
    if (!this.alive) return;
    this.#killed = true;
    try {
      this.write("Q q");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), ms);
    await this.exited;
    clearTimeout(timer);
  }
}
