/**
 * A sandbox workspace kept as a host directory (bind-mounted at /workspace by the process and container
 * tiers), and file transfer into and out of it that cannot be redirected by the sandbox. The sandbox owns
 * the directory's contents, so any component of a path may be a symlink it planted, or may be swapped for
 * one between a check and an open. Paths are therefore walked one component at a time from a directory
 * descriptor (`/proc/self/fd/<dirfd>/<name>` with O_NOFOLLOW, the openat pattern Node lacks), refusing any
 * symlink: the kernel, not a string check, decides what is opened.
 */
import { constants } from "node:fs";
import { open, mkdir, rm, chown, lstat, type FileHandle } from "node:fs/promises";
import { SandboxError } from "../core/errors.js";

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW, O_DIRECTORY } = constants;
const O_PATH_DIR = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;

function escape(relPath: string, why: string): SandboxError {
  return new SandboxError("PATH_ESCAPE", `Path "${relPath}" escapes the sandbox workspace: ${why}`, {
    details: { path: relPath, reason: why },
  });
}

/** Splits a workspace-relative path into components; `..`, `.` and empty components are refused. */
export function pathComponents(relPath: string): string[] {
  const parts = relPath.split("/").filter((p) => p !== "");
  if (parts.length === 0) throw escape(relPath, "no file name");
  for (const p of parts) {
    if (p === ".." || p === ".") throw escape(relPath, `"${p}" is not allowed`);
    if (p.includes("\0")) throw escape(relPath, "NUL byte in path");
  }
  return parts;
}

async function openAt(dir: FileHandle, name: string, flags: number, mode?: number): Promise<FileHandle> {
  return open(`/proc/self/fd/${dir.fd}/${name}`, flags, mode);
}

function isLoop(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  // ELOOP: O_NOFOLLOW met a symlink; ENOTDIR: O_DIRECTORY met a symlink or a file.
  return code === "ELOOP" || code === "ENOTDIR";
}

export class HostWorkspace {
  constructor(
    /** Absolute host path of the workspace directory. */
    readonly path: string,
    private readonly owner: { uid: number; gid: number },
  ) {}

  /** Creates the directory, owned by the sandbox user so processes inside can write to it. */
  async create(): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o755 });
    await chown(this.path, this.owner.uid, this.owner.gid);
  }

  async remove(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }

  async exists(): Promise<boolean> {
    return lstat(this.path).then(
      () => true,
      () => false,
    );
  }

  /** Opens the parent directory of `parts`, creating missing directories when `create` is set. */
  async #openParent(relPath: string, parts: string[], create: boolean): Promise<FileHandle> {
    let dir = await open(this.path, O_PATH_DIR);
    try {
      for (const name of parts.slice(0, -1)) {
        let next: FileHandle;
        try {
          next = await openAt(dir, name, O_PATH_DIR);
        } catch (err) {
          if (isLoop(err)) throw escape(relPath, `"${name}" is a symlink or not a directory`);
          if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !create) throw err;
          await mkdir(`/proc/self/fd/${dir.fd}/${name}`, { mode: 0o755 });
          await chown(`/proc/self/fd/${dir.fd}/${name}`, this.owner.uid, this.owner.gid);
          next = await openAt(dir, name, O_PATH_DIR);
        }
        await dir.close();
        dir = next;
      }
      return dir;
    } catch (err) {
      await dir.close();
      throw err;
    }
  }

  async writeFile(relPath: string, data: Uint8Array): Promise<void> {
    const parts = pathComponents(relPath);
    const dir = await this.#openParent(relPath, parts, true);
    try {
      let file: FileHandle;
      try {
        file = await openAt(dir, parts[parts.length - 1]!, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o644);
      } catch (err) {
        if (isLoop(err)) throw escape(relPath, "the file is a symlink");
        throw err;
      }
      try {
        const st = await file.stat();
        if (!st.isFile()) throw escape(relPath, "not a regular file");
        await file.writeFile(data);
        await file.chown(this.owner.uid, this.owner.gid);
      } finally {
        await file.close();
      }
    } finally {
      await dir.close();
    }
  }

  async readFile(relPath: string, maxBytes: number): Promise<Uint8Array> {
    const parts = pathComponents(relPath);
    const dir = await this.#openParent(relPath, parts, false);
    try {
      let file: FileHandle;
      try {
        file = await openAt(dir, parts[parts.length - 1]!, O_RDONLY | O_NOFOLLOW);
      } catch (err) {
        if (isLoop(err)) throw escape(relPath, "the file is a symlink");
        throw err;
      }
      try {
        const st = await file.stat();
        // A FIFO or device planted in the workspace would block or read host state.
        if (!st.isFile()) throw escape(relPath, "not a regular file");
        if (st.size > maxBytes) {
          throw new SandboxError("FILE_TOO_LARGE", `"${relPath}" is ${st.size} bytes; the cap is ${maxBytes}`, {
            details: { path: relPath, size: st.size, max_bytes: maxBytes },
          });
        }
        const buf = Buffer.alloc(st.size);
        const { bytesRead } = await file.read(buf, 0, st.size, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await file.close();
      }
    } finally {
      await dir.close();
    }
  }
}
