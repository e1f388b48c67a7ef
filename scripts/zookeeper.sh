#!/usr/bin/env bash
# Start and stop a throwaway ZooKeeper on 127.0.0.1 for the tests of the replicated ClickHouse
# schema (Debian's `zookeeper` package, installed if missing; needs Java, which it pulls in).
#
#   scripts/zookeeper.sh start [--port P] [--dir DIR]
#   scripts/zookeeper.sh stop  [--port P] [--dir DIR]
#
# Defaults: port 12181, DIR=${TMPDIR:-/tmp}/ncsoc-zookeeper-<port>. Standalone, in memory
# limits of 256 MiB, bound to loopback only.
set -euo pipefail

die() { echo "zookeeper.sh: $*" >&2; exit 1; }
cmd=${1:-}
[ $# -gt 0 ] && shift
port=12181 dir=""
while [ $# -gt 0 ]; do
  case $1 in
    --port) port=${2:?}; shift 2 ;;
    --dir) dir=${2:?}; shift 2 ;;
    *) sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
  esac
done
dir=$(realpath -m "${dir:-${TMPDIR:-/tmp}/ncsoc-zookeeper-$port}")
pidfile=$dir/zookeeper.pid
jar=/usr/share/java/zookeeper.jar

ruok() { (exec 3<>"/dev/tcp/127.0.0.1/$port" && echo ruok >&3 && timeout 2 cat <&3) 2>/dev/null | grep -q imok; }
running_pid() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *ZooKeeperServerMain* ]] && echo "$pid"
}

start() {
  if [ ! -f $jar ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update </dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y zookeeper </dev/null || die "apt-get install zookeeper failed"
  fi
  if ruok; then echo "ZooKeeper already answering on 127.0.0.1:$port"; return 0; fi
  mkdir -p "$dir/data"
  cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
CFG
  setsid java -Xmx256m -cp "$jar:/etc/zookeeper/conf" org.apache.zookeeper.server.ZooKeeperServerMain \
    "$dir/zoo.cfg" </dev/null >"$dir/zookeeper.log" 2>&1 &
  echo $! >"$pidfile"
  disown
  local i
  for ((i = 0; i < 300; i++)); do
    ruok && { echo "ZooKeeper ready on 127.0.0.1:$port (pid $(cat "$pidfile"), dir $dir)"; return 0; }
    running_pid >/dev/null || { tail -n 20 "$dir/zookeeper.log" >&2; die "ZooKeeper exited during startup"; }
    sleep 0.2
  done
  die "ZooKeeper did not answer on 127.0.0.1:$port within 60s"
}

stop() {
  local pid i
  pid=$(running_pid) || { echo "ZooKeeper in $dir is not running"; rm -f "$pidfile"; return 0; }
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  [ -d "/proc/$pid" ] && kill -KILL "$pid"
  rm -f "$pidfile"
  echo "ZooKeeper in $dir (pid $pid) stopped"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
