/* Guest helper for restored microVMs: mixes host entropy (stdin, hex, credited) into the kernel pool, forces
 * the CRNG to reseed now (RNDRESEEDCRNG), so a guest restored from a shared saved state never repeats the
 * template's random output, then sets the clock (argv[1], seconds since the epoch), which stood still in the
 * saved state. One process for both: under an emulated CPU every process costs milliseconds.
 * Built static by scripts/build-microvm-assets.sh into the initramfs as /bin/reseed. */
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
static int hex(int c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }
int main(int argc, char **argv) {
  struct { struct rand_pool_info info; unsigned char buf[64]; } e;
  char text[2 * sizeof e.buf + 2];
  ssize_t got = read(0, text, sizeof text), n = 0;
  for (ssize_t i = 0; i + 1 < got && n < (ssize_t)sizeof e.buf && hex(text[i]) >= 0 && hex(text[i + 1]) >= 0; i += 2)
    e.buf[n++] = (unsigned char)(hex(text[i]) << 4 | hex(text[i + 1]));
  if (n < 32) { fputs("symbiont-reseed: expected at least 32 bytes of hex entropy on stdin\n", stderr); return 2; }
  e.info.entropy_count = (int)n * 8;
  e.info.buf_size = (int)n;
  int fd = open("/dev/urandom", O_RDWR);
  if (fd < 0 || ioctl(fd, RNDADDENTROPY, &e.info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) { perror("symbiont-reseed"); return 1; }
  if (argc > 1) {
    struct timespec t = { .tv_sec = strtoll(argv[1], NULL, 10), .tv_nsec = 0 };
    if (clock_settime(CLOCK_REALTIME, &t) < 0) { perror("symbiont-reseed: clock"); return 3; }
  }
  return 0;
}
