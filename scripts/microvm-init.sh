#!/bin/busybox sh
# Symbiont Tier3 guest agent: PID 1 of the microVM's initramfs (built into it by build-microvm-assets.sh).
#
# It talks to the host over the virtio-serial port named "ctl", one header line per request; payloads
# follow the header as base64 text of the byte length the header gives. Every reply is one line:
#   R <id> <rc> <flags> <b64 field 1> <b64 field 2>
# Requests:
#   I <id> <epoch_s> <hex entropy>                reseed the CRNG with host entropy, set the clock (sbx-exec)
#   M <id> <serial> <b64 path> <ro 0|1>           mount the virtio disk with this serial (ext4) at path
#   X <id> <timeout_s> <cap> <spec_len> <stdin_len> + payloads   run a command as nobody and answer when it
#                                                 ends (handled by /bin/sbx-exec, scripts/microvm-exec.c)
#   S <id> <timeout_s> <script_len> + payload     start a long-lived script; its output streams back as
#                                                 "O <id> <b64 chunk>" / "E <id> <b64 chunk>" lines
#   P <id> <len> + payload                        write to a long-lived script's stdin; C <id> closes it
#   K <id>                                        kill every process of command/process <id> ("all": of all)
#   U <id>                                        usage: "<pids> <memory bytes> <memory limit bytes>"
#   W <id> <b64 path> <len> + payload             write a workspace file (as nobody, refusing symlinks)
#   G <id> <b64 path> <cap>                       read a workspace file (same rules; rc 2 missing, 3 escape, 4 too big)
#   Q                                             sync, unmount, power off
# Commands run as uid 65534 in their own cgroup under /sys/fs/cgroup/job, which carries the sandbox's
# memory and pids limits; a command's cgroup is killed when it returns, so nothing it started survives it.
/bin/busybox --install -s /bin
export PATH=/bin HOME=/
mount -t proc p /proc
mount -t sysfs s /sys
mount -t devtmpfs d /dev
mount -t tmpfs -o mode=1777,nosuid,nodev t /tmp
mount -t tmpfs -o mode=0711 r /run
for m in virtio_ring virtio virtio_mmio virtio_blk virtio_console; do insmod /lib/modules/$m.ko; done
ip link set lo up 2>/dev/null
mount -t cgroup2 c /sys/fs/cgroup
echo "+memory +pids +cpu" >/sys/fs/cgroup/cgroup.subtree_control
J=/sys/fs/cgroup/job
mkdir $J
echo "+memory +pids +cpu" >$J/cgroup.subtree_control
# The agent outweighs the sandbox's processes for the one vCPU: it stays responsive under a CPU hog.
echo 1 >$J/cpu.weight
MEM=$(sed -n 's/.*sbx.mem=\([0-9]*\).*/\1/p' /proc/cmdline)
PIDS=$(sed -n 's/.*sbx.pids=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$MEM" ] && echo "$MEM" >$J/memory.max
[ -n "$PIDS" ] && echo "$PIDS" >$J/pids.max
echo 0 >$J/memory.swap.max 2>/dev/null
# Allocations are not refused up front: the memory limit is enforced by the cgroup's OOM killer, as on hosts.
echo 1 >/proc/sys/vm/overcommit_memory
for p in $(sed -n 's/.*sbx.mkdirs=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' '); do mkdir -p "$p"; done
mkdir -m 0711 /run/x
mount -o remount,ro / 2>/dev/null

PORT=
while [ -z "$PORT" ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = ctl ] && [ -e "/dev/${p##*/}" ] && PORT=/dev/${p##*/}
  done
  [ -z "$PORT" ] && usleep 10000
done
exec 3<>"$PORT"
mkfifo /run/token /run/req
exec 5<>/run/token
printf t >&5
# sbx-exec is the port's only reader: it runs X requests itself and passes the others on through /run/req
# (fd 6), which this loop reads; both write answers to the port (fd 3) under the token.
exec 6<>/run/req
sbx-exec </dev/null 6>&- >/run/req &

# One writer at a time on the port: a token byte circulates through the FIFO on fd 5 (read -n 1 takes it,
# printf puts it back). Both are shell built-ins, so a reply costs no extra process.
reply() {
  read -r -n 1 _ <&5
  printf 'R %s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$5" >&3
  printf t >&5
}
sendline() {
  read -r -n 1 _ <&5
  printf '%s %s %s\n' "$1" "$2" "$3" >&3
  printf t >&5
}
# base64 of a file; an empty file costs no process.
b64() { [ -s "$1" ] && base64 -w0 "$1"; }
# Reads exactly $1 bytes of base64 text from the request FIFO and decodes them into $2, never reading past them.
take() {
  if [ "$1" = 0 ]; then : >"$2"
  elif [ "$1" -le 65536 ]; then dd bs="$1" count=1 iflag=fullblock <&6 2>/dev/null | base64 -d >"$2"
  else
    { dd bs=4096 count=$(($1 / 4096)) iflag=fullblock <&6 2>/dev/null
      [ $(($1 % 4096)) -gt 0 ] && dd bs=$(($1 % 4096)) count=1 iflag=fullblock <&6 2>/dev/null; } | base64 -d >"$2"
  fi
}
unb64() { echo "$1" | base64 -d; }
killcg() {
  [ -d "$1" ] || return 0
  echo 1 >"$1/cgroup.kill" 2>/dev/null
  i=0
  while ! rmdir "$1" 2>/dev/null && [ $i -lt 500 ]; do usleep 2000; i=$((i + 1)); done
}
# Sets f (flags) from the timeout marker and the cgroup's OOM-kill count.
flags() {
  f=-
  [ -e $X.t ] && f=t
  while read -r k v; do [ "$k" = oom_kill ] && [ "$v" -gt 0 ] && f=${f#-}o; done <"$CG/memory.events"
}
# Starts $X.script as nobody inside cgroup $CG ("echo 0" moves the writing process itself), in the
# background, with stdin from $1 (redirected inside: an asynchronous list's own stdin is /dev/null).
job() {
  (exec 3>&- 5>&- 6>&- <"$1"; echo 0 >"$CG/cgroup.procs" || exit 125; exec su -s /bin/sh nobody "$X.script") &
}
# In the command's own cgroup (so its end kills it too): after $1 seconds, flag the timeout and kill the cgroup.
watchdog() {
  (echo 0 >"$CG/cgroup.procs"; sleep "$1" && { : >"$X.t"; echo 1 >"$CG/cgroup.kill"; }) &
}
# Walks a workspace-relative path: rc 3 when a component is a symlink or not a directory (or the file is
# a symlink or not regular), 2 when a directory is missing, else 0. Creates missing directories (as
# nobody) when $2 = 1.
walk() {
  P=/workspace
  rest=$1
  while [ "${rest#*/}" != "$rest" ]; do
    c=${rest%%/*}
    rest=${rest#*/}
    [ -z "$c" ] && continue
    P=$P/$c
    [ -L "$P" ] && return 3
    if [ ! -e "$P" ]; then
      [ "$2" = 1 ] || return 2
      su -s /bin/sh nobody -c 'mkdir -- "$0"' "$P" || return 3
    fi
    [ -d "$P" ] || return 3
  done
  P=$P/$rest
  [ -L "$P" ] && return 3
  [ -e "$P" ] && [ ! -f "$P" ] && return 3
  return 0
}

# Forwards a long-lived process's output stream as it comes: dd returns after each read.
pump() { # id tag fifo
  exec 4<"$3"
  while :; do
    chunk=$(dd bs=4096 count=1 <&4 2>/dev/null | base64 -w0)
    [ -z "$chunk" ] && break
    sendline "$2" "$1" "$chunk"
  done
}

do_spawn() { # id timeout_s (0 = none)
  X=/run/x/$1
  CG=$J/$1
  mkdir $CG
  # The keeper holds the stdin FIFO open for the process's life, and marks when it does: a FIFO that nobody
  # holds drops what was written into it when the writer closes it (see P).
  sh -c ': >"$0"; exec sleep 2147483647' $X.held 1<>$X.i &
  echo $! >$X.keeper
  pump "$1" O $X.o &
  r1=$!
  pump "$1" E $X.e &
  r2=$!
  [ "$2" != 0 ] && watchdog "$2"
  job $X.i >$X.o 2>$X.e
  wait $!
  rc=$?
  kill "$(cat $X.keeper)" 2>/dev/null
  echo 1 >$CG/cgroup.kill
  wait $r1 $r2
  flags
  killcg $CG
  reply "$1" "$rc" "$f" "" ""
  rm -f $X.*
}

do_write() { # id b64path
  rel=$(unb64 "$2")
  walk "$rel" 1
  rc=$?
  if [ $rc = 0 ]; then
    su -s /bin/sh nobody -c 'cat >"$0"' "$P" <"/run/x/$1.data" || rc=5
  fi
  rm -f "/run/x/$1.data"
  reply "$1" "$rc" - "" ""
}

do_read() { # id b64path cap
  rel=$(unb64 "$2")
  walk "$rel" 0
  rc=$?
  [ $rc = 0 ] && [ ! -e "$P" ] && rc=2
  if [ $rc = 0 ] && [ "$(stat -c %s "$P")" -gt "$3" ]; then
    reply "$1" 4 - "$(stat -c %s "$P" | b64)" ""
    return
  fi
  if [ $rc = 0 ]; then
    su -s /bin/sh nobody -c 'base64 -w0 <"$0"' "$P" >/run/x/$1.b64 || rc=5
  fi
  [ $rc = 0 ] && reply "$1" 0 - "$(cat /run/x/$1.b64)" "" || reply "$1" "$rc" - "" ""
  rm -f /run/x/$1.b64
}

do_usage() {
  read -r n <$J/pids.current
  read -r m <$J/memory.current
  reply "$1" 0 - "$(echo "$n $m" | base64 -w0)" ""
}

N=0
echo "@@READY" >&3
while read -r V ID A B C E <&6; do
  case "$V" in
    M)
      path=$(unb64 "$B")
      dev=
      for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = "$A" ] && dev=/dev/${b##*/}; done
      if [ -z "$dev" ]; then rc=2
      elif [ "$C" = 1 ]; then mount -t ext4 -o ro,nosuid,nodev "$dev" "$path"; rc=$?
      else mount -t ext4 -o nosuid,nodev "$dev" "$path"; rc=$?; fi
      if [ $rc = 0 ]; then reply "$ID" 0 - "" ""; else reply "$ID" "$rc" - "" "$(dmesg | tail -n 3 | base64 -w0)"; fi
      ;;
    S)
      take "$B" /run/x/$ID.script
      # The FIFOs exist before the next request is read: stdin data may follow at once.
      mkfifo /run/x/$ID.i /run/x/$ID.o /run/x/$ID.e
      do_spawn "$ID" "$A" &
      ;;
    P)
      # Written in the background, each chunk after the one before (a process that does not read its stdin
      # must not stall the agent); <> opens the FIFO without waiting for a reader.
      N=$((N + 1))
      take "$A" /run/x/$ID.c$N
      eval "prev=\${w_$ID:-}"
      # The first chunk can arrive before the process's keeper holds the FIFO: it waits for the keeper.
      (while [ -n "$prev" ] && kill -0 "$prev" 2>/dev/null; do usleep 5000; done
        while [ -p /run/x/$ID.i ] && [ ! -e /run/x/$ID.held ]; do usleep 1000; done
        [ -p /run/x/$ID.i ] && cat /run/x/$ID.c$N 1<>/run/x/$ID.i; rm -f /run/x/$ID.c$N) &
      eval "w_$ID=\$!"
      ;;
    C) kill "$(cat /run/x/$ID.keeper 2>/dev/null)" 2>/dev/null ;;
    K)
      if [ "$ID" = all ]; then
        for c in $J/*/; do echo 1 >"${c}cgroup.kill"; done 2>/dev/null
      else
        echo 1 >$J/$ID/cgroup.kill 2>/dev/null
      fi
      ;;
    U) do_usage "$ID" & ;;
    W)
      take "$B" /run/x/$ID.data
      do_write "$ID" "$A" &
      ;;
    G) do_read "$ID" "$A" "$B" & ;;
    Q) break ;;
  esac
done
echo 1 >$J/cgroup.kill 2>/dev/null
sync
umount /workspace 2>/dev/null
poweroff -f
