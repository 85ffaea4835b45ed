"""A single-node SLURM cluster on 127.0.0.1, started in a temporary folder for a test.

munged, slurmctld and slurmd run as root in the foreground (so each is one process this module
started and stops by its id), with every socket, key, spool and state file under `root`, so
nothing is read from or written to /etc/slurm, /etc/munge or /var. No cgroups (containers often
lack them): proctrack/linuxproc, task/none. No accounting database: `sacct` cannot answer, so
Snakemake's SLURM executor must query job states with `squeue` (MinJobAge keeps a finished job
visible to it for 10 minutes).

Inside a job, Snakemake's jobstep executor (snakemake-executor-plugin-slurm-jobstep 0.6.1) starts
each rule with `srun`, after removing every SLURM_* variable but the job's identity from srun's
environment, SLURM_CONF included. A real cluster keeps slurm.conf where srun looks by default
(/etc/slurm, or /run/slurm/conf when configless); this one keeps it in `root`, so `root/bin/srun`,
first on PATH, names it again before calling the real srun.

`start(root)` returns a `Cluster` (its environment names the cluster to every SLURM client through
SLURM_CONF) or raises `Unavailable` with the reason SLURM cannot start here.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "srun", "scancel")
NODE = "localhost"
PARTITION = "debug"
CPUS = 2
MEMORY_MB = 2000

SLURM_CONF = """\
ClusterName=loopback
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=600
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


class Unavailable(RuntimeError):
    """SLURM cannot start on this machine (the reason is the message)."""


@dataclass
class Cluster:
    root: Path
    env: dict
    processes: list = field(default_factory=list)

    def log(self, name: str) -> str:
        path = self.root / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Cancel what is still queued, then stop the daemons this cluster started (by their
        process ids), newest first."""
        subprocess.run(["scancel", "--full", "--partition", PARTITION], env=self.env, capture_output=True, timeout=30)
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, ready, procs, cluster: Cluster, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return
        for proc in procs:
            if proc.poll() is not None:
                break
        else:
            time.sleep(0.3)
            continue
        break
    logs = "\n".join(f"--- {n}.log ---\n{cluster.log(n)[-1500:]}" for n in ("munged", "slurmctld", "slurmd"))
    cluster.stop()
    raise Unavailable(f"{what} did not come up within {timeout:.0f} s\n{logs}")


def start(root: Path) -> Cluster:
    """Generate a munge key, write slurm.conf, start munged, slurmctld and slurmd; wait until the
    node is idle. Raises `Unavailable` where that cannot work (not root, packages missing)."""
    if os.geteuid() != 0:
        raise Unavailable("the loopback SLURM cluster needs root (slurmd runs jobs as their user)")
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()]
    if missing:
        raise Unavailable(f"SLURM/munge programs missing: {', '.join(missing)} (apt-get install "
                          "slurmctld slurmd slurm-client munge)")
    root = Path(root)
    for sub in ("state", "spool", "log", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "munge", 0o700)
    munge_key = root / "munge" / "munge.key"
    munge_socket = root / "munge" / "munge.socket"
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(node=NODE, root=root, munge_socket=munge_socket, cpus=CPUS,
                                      memory=MEMORY_MB, partition=PARTITION, ctld_port=_free_port(),
                                      slurmd_port=_free_port()))
    (root / "bin").mkdir(exist_ok=True)
    srun = root / "bin" / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {shutil.which("srun")} "$@"\n')
    srun.chmod(0o755)
    env = dict(os.environ, SLURM_CONF=str(conf), PATH=f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    for key in [k for k in env if k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_")) and k != "SLURM_CONF"]:
        del env[key]  # a test run inside a real SLURM job must not leak that job's settings
    cluster = Cluster(root=root, env=env)
    subprocess.run(["mungekey", "--create", "--keyfile", str(munge_key)], check=True, capture_output=True)
    os.chmod(munge_key, 0o400)
    sbin = lambda name: shutil.which(name) or f"/usr/sbin/{name}"  # noqa: E731
    # --force: /tmp (the folder above root) is world-writable, which munged otherwise refuses
    cluster.processes.append(subprocess.Popen(
        [sbin("munged"), "--foreground", "--force", f"--socket={munge_socket}", f"--key-file={munge_key}",
         f"--pid-file={root}/munge/munged.pid", f"--seed-file={root}/munge/munged.seed",
         f"--log-file={root}/log/munged.log"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env))
    _wait("munged", munge_socket.exists, cluster.processes, cluster)
    for daemon, args in (("slurmctld", ["-D", "-i"]), ("slurmd", ["-D", "-N", NODE])):
        cluster.processes.append(subprocess.Popen([sbin(daemon), *args, "-f", str(conf)], env=env,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))

    def node_idle() -> bool:
        out = subprocess.run(["sinfo", "-h", "-n", NODE, "-o", "%T"], env=env, capture_output=True, text=True)
        return out.returncode == 0 and out.stdout.strip().rstrip("*") == "idle"

    _wait("slurmctld + slurmd (node idle)", node_idle, cluster.processes, cluster, timeout=60)
    return cluster
