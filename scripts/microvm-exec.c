/* The reading half of the Tier3 guest agent (scripts/microvm-init.sh): the only reader of the port (fd 3).
 * It answers `I` (reseed and clock, see reseed()) and runs `X` requests itself — a command as nobody in its
 * own cgroup, its output captured, the answer written to the port — and passes every other request, header
 * line and payload, to the shell agent through its stdout (the FIFO /run/req). Under an emulated CPU every process and context switch costs; a command
 * costs a worker fork and the command itself (the shell would fork and exec about twenty processes).
 * Built static by scripts/build-microvm-assets.sh into the initramfs as /bin/sbx-exec. fd 5: the FIFO that
 * holds the port's writer token (one byte; whoever reads it may write a line, then puts it back).
 *
 * An X request: `X <id> <timeout_s> <cap> <spec_len> <stdin_len>` + the two base64 payloads; the spec is
 * NUL-separated: cwd, argc, argv..., then KEY=VALUE environment entries. The cgroup is made before the next
 * request is read, so a K for this command always finds it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
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

/* The command: joins its cgroup (unless it was born in it), drops to nobody, enters cwd, execs with exactly the given environment. */
static void child(const char *cg, int in_cgroup, int in, int out, int err, char *spec, size_t len) {
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
  if (!in_cgroup) {
    char procs[192];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", cg);
    int fd = open(procs, O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) die("sbx-exec: joining the command's cgroup");
    close(fd);
  }
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

/*
 * fork(), the child born inside cgroup `cg` (clone3 CLONE_INTO_CGROUP): no migration of a running process,
 * which takes the cgroup threadgroup lock for writing. -1 when the kernel cannot; the caller forks instead.
 */
static pid_t spawn_into(const char *cg) {
  int dir = open(cg, O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  struct clone_args a;
  memset(&a, 0, sizeof a);
  a.flags = CLONE_INTO_CGROUP;
  a.exit_signal = SIGCHLD;
  a.cgroup = (unsigned long long)dir;
  long pid = syscall(SYS_clone3, &a, sizeof a);
  if (pid != 0) close(dir);
  return (pid_t)pid;
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

/* Writes `R <id> <rc> <flags> <b64 out> <b64 err>` to the port while holding the writer token. */
static void answer(const char *id, int rc, const char *flags, const char *out, size_t out_len, const char *err, size_t err_len) {
  size_t max = strlen(id) + 64 + (out_len + 2) / 3 * 4 + (err_len + 2) / 3 * 4;
  char *line = malloc(max), *p = line;
  if (!line) die("sbx-exec: malloc");
  p += sprintf(p, "R %s %d %s ", id, rc, flags);
  p = b64(out ? out : "", out_len, p);
  *p++ = ' ';
  p = b64(err ? err : "", err_len, p);
  *p++ = '\n';
  char token;
  while (read(5, &token, 1) < 0 && errno == EINTR) {
  }
  writefull(3, line, (size_t)(p - line));
  writefull(5, "t", 1);
  free(line);
}

static int hexval(int c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/*
 * `I <id> <epoch_s> <hex entropy>`: credits the host's entropy and forces the CRNG to reseed now
 * (RNDRESEEDCRNG), so a guest restored from a shared saved state never repeats the template's random output;
 * then sets the clock, which stood still in the saved state. Answered before the next request is read, so
 * no command of the sandbox runs before it.
 */
static void reseed(const char *id, const char *epoch, const char *hex) {
  struct {
    struct rand_pool_info info;
    unsigned char buf[64];
  } e;
  size_t n = 0;
  for (size_t i = 0; hex[i] && hex[i + 1] && n < sizeof e.buf && hexval(hex[i]) >= 0 && hexval(hex[i + 1]) >= 0; i += 2)
    e.buf[n++] = (unsigned char)(hexval(hex[i]) << 4 | hexval(hex[i + 1]));
  const char *why = NULL;
  int rc = 0;
  e.info.entropy_count = (int)n * 8;
  e.info.buf_size = (int)n;
  int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
  struct timespec t = {.tv_sec = strtoll(epoch, NULL, 10), .tv_nsec = 0};
  if (n < 32) rc = 2, why = "expected at least 32 bytes of hex entropy";
  else if (fd < 0 || ioctl(fd, RNDADDENTROPY, &e.info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) rc = 1, why = "cannot reseed the CRNG";
  else if (clock_settime(CLOCK_REALTIME, &t) < 0) rc = 3, why = "cannot set the clock";
  if (fd >= 0) close(fd);
  answer(id, rc, "-", "", 0, why ? why : "", why ? strlen(why) : 0);
}

static char rbuf[65536];
static size_t rlen, rpos;

/* Reads more from the port; 0 at end of file. */
static int fill(void) {
  if (rpos == rlen) rpos = rlen = 0;
  ssize_t r;
  do r = read(3, rbuf + rlen, sizeof rbuf - rlen);
  while (r < 0 && errno == EINTR);
  if (r <= 0) return 0;
  rlen += (size_t)r;
  return 1;
}

/* One header line, without its newline; 0 at end of file. */
static int readline(char *line, size_t max, size_t *len) {
  *len = 0;
  for (;;) {
    while (rpos < rlen) {
      char c = rbuf[rpos++];
      if (c == '\n') {
        line[*len] = 0;
        return 1;
      }
      if (*len + 1 < max) line[(*len)++] = c;
    }
    if (!fill()) return 0;
  }
}

/* Exactly n payload bytes, into dst or else written to fd; 0 at end of file. */
static int payload(size_t n, char *dst, int fd) {
  while (n > 0) {
    if (rpos == rlen && !fill()) return 0;
    size_t k = rlen - rpos < n ? rlen - rpos : n;
    if (dst) {
      memcpy(dst, rbuf + rpos, k);
      dst += k;
    } else {
      writefull(fd, rbuf + rpos, k);
    }
    rpos += k;
    n -= k;
  }
  return 1;
}

static void run(const char *id, double timeout_s, size_t cap, char *spec, size_t spec_len, char *in, size_t in_len, int made);

int main(void) {
  // Workers are reaped by the kernel; each worker waits for its own command.
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  static char line[8192];
  size_t len;
  while (readline(line, sizeof line, &len)) {
    char copy[sizeof line];
    memcpy(copy, line, len + 1);
    char *f[8] = {0};
    int nf = 0;
    for (char *t = strtok(copy, " "); t && nf < 8; t = strtok(NULL, " ")) f[nf++] = t;
    if (nf == 0) continue;
    if (!strcmp(f[0], "X") && nf >= 6) {
      size_t spec_len = strtoul(f[4], NULL, 10), in_len = strtoul(f[5], NULL, 10);
      char *spec = malloc(spec_len + 1), *in = malloc(in_len + 1);
      if (!spec || !in) die("sbx-exec: malloc");
      if (!payload(spec_len, spec, -1) || !payload(in_len, in, -1)) break;
      char cg[128];
      snprintf(cg, sizeof cg, "%s/%s", JOBS, f[1]);
      int made = mkdir(cg, 0755);
      pid_t w = fork();
      if (w == 0) run(f[1], strtod(f[2], NULL), strtoul(f[3], NULL, 10), spec, spec_len, in, in_len, made);
      if (w < 0) {
        rmdir(cg);
        static const char why[] = "sbx-exec: cannot fork a worker";
        answer(f[1], 125, "-", "", 0, why, sizeof why - 1);
      }
      free(spec);
      free(in);
      continue;
    }
    if (!strcmp(f[0], "I") && nf >= 4) {
      reseed(f[1], f[2], f[3]);
      continue;
    }
    // Payload lengths of the shell's requests: S <id> <timeout> <len>, W <id> <path> <len>, P <id> <len>.
    size_t plen = 0;
    if ((!strcmp(f[0], "S") || !strcmp(f[0], "W")) && nf >= 4) plen = strtoul(f[3], NULL, 10);
    if (!strcmp(f[0], "P") && nf >= 3) plen = strtoul(f[2], NULL, 10);
    line[len] = '\n';
    writefull(1, line, len + 1);
    if (!payload(plen, NULL, 1)) break;
  }
  return 0;
}

/* A worker: runs one command and answers for it. */
static void run(const char *id, double timeout_s, size_t cap, char *spec, size_t spec_len, char *in, size_t in_len, int made) {
  signal(SIGCHLD, SIG_DFL);
  setsid();
  // What the command leaves behind is reparented here, not to the shell agent (PID 1): every process of the
  // command is reaped, so none is still charged to the guest's pids limit, before the answer goes out.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  char cg[128];
  snprintf(cg, sizeof cg, "%s/%s", JOBS, id);
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
    pid_t pid = spawn_into(cg);
    if (pid == 0) child(cg, 1, stdin_fd, outp[1], errp[1], spec, spec_len);
    if (pid < 0) {
      pid = fork();
      if (pid == 0) child(cg, 0, stdin_fd, outp[1], errp[1], spec, spec_len);
    }
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
    for (;;) {
      pid_t r = waitpid(-1, NULL, 0);
      if (r > 0 || (r < 0 && errno == EINTR)) continue;
      break;
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

  answer(id, rc, flags, out.buf, out.len, err.buf, err.len);
  _exit(0);
}
