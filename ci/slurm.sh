#!/usr/bin/env bash
# ci/slurm.sh -- a real Slurm on this machine for the Slurm tests
# (TestSlurm* in the root package and internal/pmi): one slurmctld and
# NODES slurmd, each an emulated node (n1, n2, ...) on 127.0.0.1, with the
# PMI-2 and PMIx plugins. Debian 12, as root; no systemd or cgroups needed.
#
#   bash ci/slurm.sh up [NODES=2] [CPUS_PER_NODE=8]   install (apt-get) and start
#   bash ci/slurm.sh down                             cancel jobs, stop what up started, remove its state
#
# Env: SLURM_CI_DIR (state, default /tmp/slurm-ci), SLURM_CI_AUTH=munge|none,
# SLURM_CI_PMIX=0|1. It writes /etc/slurm/slurm.conf: use it on a CI or
# development machine, not on a host that belongs to a real cluster.
set -euo pipefail
D=${SLURM_CI_DIR:-/tmp/slurm-ci}

up() {
  local NN=${1:-2} CPN=${2:-8} AUTH=${SLURM_CI_AUTH:-munge}
  local PKGS="slurmctld slurmd slurm-client munge libpmi2-0-dev"
  # mpi/pmix dlopens pmix2/lib/libpmix.so, which only the -dev package has.
  [ "${SLURM_CI_PMIX:-1}" = 1 ] && PKGS="$PKGS libpmix-dev"
  if ! dpkg -s $PKGS >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
  fi
  mkdir -p "$D"/{ctld,log,run} /etc/slurm
  local NAMES n p
  if [ "$NN" -eq 1 ]; then NAMES=$(hostname -s); else NAMES=$(seq -f 'n%g' 1 "$NN"); fi
  {
    cat <<CONF
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/$AUTH
CredType=cred/$AUTH
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
DebugFlags=NO_CONF_HASH
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/spool-%n
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd-%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd-%n.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
CONF
    p=17000
    for n in $NAMES; do
      p=$((p + 1))
      echo "NodeName=$n NodeAddr=127.0.0.1 Port=$p CPUs=$CPN State=UNKNOWN"
    done
    echo "PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4"
  } >/etc/slurm/slurm.conf
  if [ "$AUTH" = munge ] && ! munge -n >/dev/null 2>&1; then # reuse a running munged
    if [ ! -s /etc/munge/munge.key ]; then
      dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
      chown munge:munge /etc/munge/munge.key
      chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged && cp /run/munge/munged.pid "$D/run/munged.pid"
  fi
  slurmctld
  for n in $NAMES; do # a TmpFS per slurmd, else the PMIx directories of co-located nodes collide
    mkdir -p "$D/spool-$n" "$D/tmp-$n"
    { cat /etc/slurm/slurm.conf; echo "TmpFS=$D/tmp-$n"; } >"$D/slurmd-$n.conf"
    slurmd -N "$n" -f "$D/slurmd-$n.conf"
  done
  for _ in $(seq 1 120); do
    [ "$(sinfo -h -t idle -o %D 2>/dev/null)" = "$NN" ] && break
    sleep 0.25
  done
  sinfo -N
  [ "$(sinfo -h -t idle -o %D)" = "$NN" ] || { tail -n 20 "$D"/log/*.log; exit 1; }
}

down() {
  if [ -s "$D/run/slurmctld.pid" ]; then # slurmstepd outlives slurmd: cancel jobs first
    scancel --partition=ci 2>/dev/null || true
    for _ in $(seq 1 40); do
      [ -z "$(squeue -h 2>/dev/null)" ] && break
      sleep 0.25
    done
  fi
  local pids="" alive="" f p
  for f in "$D"/run/slurmd-*.pid "$D"/run/slurmctld.pid "$D"/run/munged.pid; do
    [ -s "$f" ] && pids="$pids $(cat "$f")"
  done
  [ -n "$pids" ] && kill $pids 2>/dev/null
  for _ in $(seq 1 40); do
    alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -z "$alive" ] && break
    sleep 0.25
  done
  [ -n "$alive" ] && { echo "ci/slurm.sh: SIGKILL$alive"; kill -9 $alive; }
  rm -rf "$D"
  echo "ci/slurm.sh: stopped:${pids:- nothing}"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) echo "usage: bash ci/slurm.sh up [NODES] [CPUS_PER_NODE] | down" >&2; exit 2 ;;
esac
