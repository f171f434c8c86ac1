#!/usr/bin/env bash
# Builds the Tier3 microVM guest assets from Debian packages (run as root; idempotent):
#   vmlinux         the Debian cloud kernel, cut out of its LZ4-compressed bzImage into an uncompressed ELF
#                   (it carries a PVH note, so QEMU's microvm machine boots it directly, no decompressor)
#   initramfs.gz    busybox-static, the virtio modules of that kernel (loaded in order by /init), the
#                   guest agent /init that speaks the one-line command protocol over virtio-serial, and
#                   /bin/sbx-exec (scripts/microvm-exec.c, static): the agent's port reader, which runs
#                   commands and reseeds a restored guest's CRNG and sets its clock
#   VERSION         the kernel version and a hash of the inputs; assets are rebuilt only when it changes
# Output directory: $SYMBIONT_MICROVM_ASSETS, else /var/lib/symbiont/microvm (the default of
# sandbox.microvm.assets_dir). Installs qemu-system-x86, busybox-static, cpio, e2fsprogs, lz4, gcc and
# libc6-dev if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="${SYMBIONT_MICROVM_ASSETS:-/var/lib/symbiont/microvm}"
INIT_SRC="$ROOT/scripts/microvm-init.sh"
EXEC_SRC="$ROOT/scripts/microvm-exec.c"
MODULES=(virtio_ring virtio virtio_mmio virtio_blk virtio_console)

log() { echo "build-microvm-assets: $*"; }

if [ "$(id -u)" != 0 ]; then
  echo "build-microvm-assets: must run as root (installs packages)" >&2
  exit 1
fi

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v debugfs >/dev/null || missing+=(e2fsprogs)
command -v lz4 >/dev/null || missing+=(lz4)
command -v gcc >/dev/null || missing+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The versioned cloud kernel package the meta-package points at (e.g. linux-image-6.1.0-57-cloud-amd64).
KPKG="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
if [ -z "$KPKG" ]; then
  apt-get update -q
  KPKG="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
fi
[ -n "$KPKG" ] || { echo "build-microvm-assets: cannot resolve the cloud kernel package" >&2; exit 1; }
# The guest protocol's version (GUEST_PROTOCOL in src/sandbox/microvm-backend.ts): bump both together when
# the host and the guest agent must change in step; the runtime refuses assets without it.
PROTOCOL=protocol-2
STAMP="$KPKG $PROTOCOL $(sha256sum "$INIT_SRC" "$EXEC_SRC" "$0" | sha256sum | cut -c1-16)"
if [ -f "$OUT/VERSION" ] && [ "$(cat "$OUT/VERSION")" = "$STAMP" ] && [ -f "$OUT/vmlinux" ] && [ -f "$OUT/initramfs.gz" ]; then
  log "assets up to date in $OUT ($STAMP)"
  exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
log "downloading $KPKG"
(cd "$WORK" && apt-get download -q "$KPKG" >/dev/null)
dpkg-deb -x "$WORK"/"$KPKG"_*.deb "$WORK/k"
KVER="${KPKG#linux-image-}"
VMLINUZ="$WORK/k/boot/vmlinuz-$KVER"
[ -f "$VMLINUZ" ] || { echo "build-microvm-assets: $VMLINUZ missing from $KPKG" >&2; exit 1; }

# The payload starts at the first LZ4 frame magic (02 21 4C 18, legacy format) inside the bzImage.
OFFSET="$(grep -obUaP '\x02\x21\x4c\x18' "$VMLINUZ" | head -n1 | cut -d: -f1)"
[ -n "$OFFSET" ] || { echo "build-microvm-assets: no LZ4 payload in $VMLINUZ (kernel not LZ4-compressed?)" >&2; exit 1; }
tail -c +"$((OFFSET + 1))" "$VMLINUZ" | lz4 -dc >"$WORK/vmlinux" 2>/dev/null || true
head -c 4 "$WORK/vmlinux" | grep -q $'\x7fELF' || { echo "build-microvm-assets: extracted kernel is not an ELF" >&2; exit 1; }

# initramfs: busybox, /init, the modules (decompressed when the package ships them compressed).
R="$WORK/root"
mkdir -p "$R"/{bin,dev,proc,sys,tmp,run,workspace,etc,lib/modules,mnt}
cp /bin/busybox "$R/bin/busybox"
gcc -static -Os -s -o "$R/bin/sbx-exec" "$EXEC_SRC"
install -m 0755 "$INIT_SRC" "$R/init"
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/workspace:/bin/sh' >>"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
for m in "${MODULES[@]}"; do
  f="$(find "$WORK/k/lib/modules/$KVER" -name "$m.ko*" | head -n1)"
  [ -n "$f" ] || { echo "build-microvm-assets: module $m not found in $KPKG" >&2; exit 1; }
  case "$f" in
    *.ko.xz) xz -dc "$f" >"$R/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -dqc "$f" >"$R/lib/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$f" >"$R/lib/modules/$m.ko" ;;
    *) cp "$f" "$R/lib/modules/$m.ko" ;;
  esac
done
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -9) >"$WORK/initramfs.gz"

mkdir -p "$OUT"
install -m 0644 "$WORK/vmlinux" "$OUT/vmlinux.new" && mv -f "$OUT/vmlinux.new" "$OUT/vmlinux"
install -m 0644 "$WORK/initramfs.gz" "$OUT/initramfs.gz.new" && mv -f "$OUT/initramfs.gz.new" "$OUT/initramfs.gz"
# Saved VM states were taken from the old assets: they are no longer valid.
rm -rf "$OUT/snapshots"
echo "$STAMP" >"$OUT/VERSION"
log "built $OUT (kernel $KVER)"
