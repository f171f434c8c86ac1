/* Guest helper for restored microVMs: mixes host entropy (stdin, credited) into the kernel pool and forces
 * the CRNG to reseed now (RNDRESEEDCRNG), so a guest restored from a shared saved state never repeats the
 * template's random output. Built static by scripts/build-microvm-assets.sh into the initramfs as /bin/reseed. */
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>
int main(void) {
  struct { struct rand_pool_info info; unsigned char buf[64]; } e;
  ssize_t n = read(0, e.buf, sizeof e.buf);
  if (n <= 0) return 2;
  e.info.entropy_count = (int)n * 8;
  e.info.buf_size = (int)n;
  int fd = open("/dev/urandom", O_RDWR);
  if (fd < 0 || ioctl(fd, RNDADDENTROPY, &e.info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) { perror("symbiont-reseed"); return 1; }
  return 0;
}
