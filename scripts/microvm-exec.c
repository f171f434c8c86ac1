/* Guest helper of the Tier3 agent (scripts/microvm-init.sh) for one `X` request: run a command as nobody in
 * its own cgroup, capture its output and answer on the port. Built static by scripts/build-microvm-assets.sh
 * into the initramfs as /bin/sbx-exec. Under an emulated CPU every process costs milliseconds, so the whole
 * request — payload decoding, the cgroup, the privilege drop, the timeout, the capture and the base64 reply —
 * is this one program plus the command itself (the shell agent would fork about twenty).
 *
 *   sbx-exec <id> <timeout_s> <cap> <spec_len> <stdin_len>   (fd 3: the port, fd 5: the writer token FIFO)
 *
 * It reads the two base64 payloads from fd 3 (exactly their length: the next request follows them), creates
 * the command's cgroup, then returns at once while a detached worker runs the command; so the agent reads its
 * next request (a K for this command finds the cgroup). The spec payload is NUL-separated:
 * cwd, argc, argv..., then KEY=VALUE environment entries. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY 65534
static const char JOBS[] = "/sys/fs/cgroup/job";
extern char **environ;

static void die(const char *what) {
  perror(what);
  _exit(125);
}

static void fail(const char *why) {
  fprintf(stderr, "sbx-exec: %s\n", why);
  _exit(125);
}

static void readfull(int fd, char *buf, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die("sbx-exec: reading the request");
    got += (size_t)r;
  }
}

static void writefull(int fd, const char *buf, size_t n) {
  for (size_t put = 0; put < n;) {
    ssize_t w = write(fd, buf + put, n - put);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    put += (size_t)w;
  }
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes base64 in place; returns the decoded length. */
static size_t unb64(char *s, size_t n) {
  size_t out = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64val((unsigned char)s[i]);
    if (v < 0) continue;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      s[out++] = (char)((acc >> bits) & 0xff);
    }
  }
  return out;
}

static char *b64(const char *in, size_t n, char *out) {
  static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
    if (i + 2 < n) v |= (unsigned char)in[i + 2];
    *out++ = T[(v >> 18) & 63];
    *out++ = T[(v >> 12) & 63];
    *out++ = i + 1 < n ? T[(v >> 6) & 63] : '=';
    *out++ = i + 2 < n ? T[v & 63] : '=';
  }
  return out;
}

static void putfile(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd >= 0) {
    writefull(fd, text, strlen(text));
    close(fd);
  }
}

/* The command: joins its cgroup, drops to nobody, enters cwd, execs with exactly the given environment. */
static void child(const char *cg, int in, int out, int err, char *spec, size_t len) {
  char *f[4096];
  size_t nf = 0;
  for (size_t i = 0; i < len && nf < 4095; i += strlen(spec + i) + 1) f[nf++] = spec + i;
  f[nf] = NULL;
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) die("sbx-exec: dup2");
  if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
    for (int fd = 3; fd < 1024; fd++) close(fd);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  char procs[128];
  snprintf(procs, sizeof procs, "%s/cgroup.procs", cg);
  int fd = open(procs, O_WRONLY);
  if (fd < 0 || write(fd, "0", 1) != 1) die("sbx-exec: joining the command's cgroup");
  close(fd);
  gid_t g = NOBODY;
  if (setgroups(1, &g) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0) die("sbx-exec: dropping privileges");
  if (nf < 3) fail("malformed command");
  long argc = strtol(f[1], NULL, 10);
  if (argc < 1 || (size_t)argc + 2 > nf) fail("malformed command");
  if (chdir(f[0]) < 0) {
    fprintf(stderr, "sh: cd: can't cd to %s: %s\n", f[0], strerror(errno));
    _exit(126);
  }
  // argv is copied out: its NULL terminator would land on the first environment entry.
  char *argv[argc + 1];
  memcpy(argv, f + 2, (size_t)argc * sizeof *argv);
  argv[argc] = NULL;
  char *cmd = argv[0];
  environ = f + 2 + argc;
  execvp(cmd, argv);
  fprintf(stderr, "env: can't execute '%s': %s\n", cmd, strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

struct capture {
  int fd;
  char *buf;
  size_t len;
};

/* Reads what is there; keeps at most cap + 1 bytes (the host flags anything past cap as truncated). */
static void drain(struct capture *c, size_t cap) {
  char scratch[16384];
  ssize_t r = read(c->fd, scratch, sizeof scratch);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r <= 0) {
    close(c->fd);
    c->fd = -1;
    return;
  }
  size_t keep = c->len > cap ? 0 : cap + 1 - c->len;
  if ((size_t)r < keep) keep = (size_t)r;
  memcpy(c->buf + c->len, scratch, keep);
  c->len += keep;
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fputs("usage: sbx-exec <id> <timeout_s> <cap> <spec_len> <stdin_len>\n", stderr);
    return 2;
  }
  const char *id = argv[1];
  double timeout_s = strtod(argv[2], NULL);
  size_t cap = strtoul(argv[3], NULL, 10);
  size_t spec_len = strtoul(argv[4], NULL, 10), in_len = strtoul(argv[5], NULL, 10);
  char *spec = malloc(spec_len + 1), *in = malloc(in_len + 1);
  if (!spec || !in) die("sbx-exec: malloc");
  readfull(3, spec, spec_len);
  readfull(3, in, in_len);
  char cg[128];
  snprintf(cg, sizeof cg, "%s/%s", JOBS, id);
  int made = mkdir(cg, 0755);
  pid_t worker = fork();
  if (worker != 0) return worker < 0 ? 1 : 0;

  setsid();
  signal(SIGPIPE, SIG_IGN);
  spec_len = unb64(spec, spec_len);
  spec[spec_len] = 0;
  in_len = unb64(in, in_len);
  int stdin_fd = memfd_create("stdin", 0);
  int outp[2], errp[2];
  int rc = 125;
  const char *flags = "-";
  struct capture out = {-1, malloc(cap + 1), 0}, err = {-1, malloc(cap + 1), 0};
  if (made < 0 || stdin_fd < 0 || !out.buf || !err.buf || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
    const char *why = made < 0 ? "sbx-exec: cannot create the command's cgroup" : "sbx-exec: out of resources";
    err.len = strlen(why);
    if (err.buf) memcpy(err.buf, why, err.len);
  } else {
    writefull(stdin_fd, in, in_len);
    lseek(stdin_fd, 0, SEEK_SET);
    pid_t pid = fork();
    if (pid == 0) child(cg, stdin_fd, outp[1], errp[1], spec, spec_len);
    close(outp[1]);
    close(errp[1]);
    close(stdin_fd);
    out.fd = outp[0];
    err.fd = errp[0];
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    long long deadline = now_ms() + (long long)(timeout_s * 1000);
    int timed_out = 0, exited = pid <= 0;
    char kill_path[160];
    snprintf(kill_path, sizeof kill_path, "%s/cgroup.kill", cg);
    // Until the command has exited and both streams are closed (the cgroup kill closes the last writers).
    while (!exited || out.fd >= 0 || err.fd >= 0) {
      struct pollfd p[3] = {{out.fd, POLLIN, 0}, {err.fd, POLLIN, 0}, {exited ? -1 : pidfd, POLLIN, 0}};
      long long left = deadline - now_ms();
      if (!timed_out && left <= 0) {
        timed_out = 1;
        putfile(kill_path, "1");
      }
      int n = poll(p, 3, timed_out ? -1 : (int)(left > 0 ? left : 0));
      if (n < 0 && errno != EINTR) break;
      if (p[0].revents) drain(&out, cap);
      if (p[1].revents) drain(&err, cap);
      if (!exited && (p[2].revents || pidfd < 0)) {
        int st;
        if (waitpid(pid, &st, pidfd < 0 ? 0 : WNOHANG) == pid) {
          exited = 1;
          rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
          // Nothing the command started outlives it.
          putfile(kill_path, "1");
        }
      }
    }
    char ev[512];
    snprintf(ev, sizeof ev, "%s/memory.events", cg);
    FILE *e = fopen(ev, "r");
    int oom = 0;
    char key[64];
    long val;
    while (e && fscanf(e, "%63s %ld", key, &val) == 2)
      if (!strcmp(key, "oom_kill") && val > 0) oom = 1;
    if (e) fclose(e);
    flags = timed_out ? (oom ? "to" : "t") : (oom ? "o" : "-");
  }
  // The cgroup empties once the killed processes are reaped by the kernel: retry, briefly.
  for (int i = 0; i < 2000 && rmdir(cg) < 0 && errno == EBUSY; i++) nanosleep(&(struct timespec){0, 1000000}, NULL);

  size_t max = strlen(id) + 64 + (out.len + 2) / 3 * 4 + (err.len + 2) / 3 * 4;
  char *line = malloc(max), *p = line;
  if (!line) die("sbx-exec: malloc");
  p += sprintf(p, "R %s %d %s ", id, rc, flags);
  p = b64(out.buf ? out.buf : "", out.len, p);
  *p++ = ' ';
  p = b64(err.buf ? err.buf : "", err.len, p);
  *p++ = '\n';
  char token;
  while (read(5, &token, 1) < 0 && errno == EINTR) {
  }
  writefull(3, line, (size_t)(p - line));
  writefull(5, "t", 1);
  return 0;
}
