"""A throw-away single-node SLURM cluster on localhost, for the SLURM tests.

``LocalSlurm`` writes a slurm.conf for this machine, starts ``munged``,
``slurmctld`` and ``slurmd`` in the foreground (their output goes to log
files in the cluster's folder), waits until the node takes jobs, and stops
exactly the processes it started, by PID. Slurm's packaged tools and the
jobs' own job steps read ``/etc/slurm/slurm.conf``, so the cluster's
configuration is written there for its lifetime and whatever was there
before is put back on ``stop``.

Facts this relies on (Debian 12, Slurm 22.05, root, no systemd):

- no accounting daemon: job states come from ``squeue``, so finished jobs
  must stay in slurmctld's memory (``MinJobAge``) for longer than the
  executor's longest pause between status checks (180 s);
- ``SlurmdParameters=config_overrides``: the node advertises the CPUs,
  memory and the one GPU written in slurm.conf instead of the hardware's,
  so that the pipeline's real requests (several GB, several threads, a
  GPU for the training rules) are schedulable on a small CI machine.
  Nothing enforces these limits (``task/none``); the GPU is a count only,
  and jobs that ask for it still run on the CPU.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import NoReturn

import pytest

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "scancel")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
PARTITIONS = ("debug", "mimatest", "mimagpu")  # the first is the default; one node in each


def missing_requirement() -> str | None:
    """Why a local cluster cannot be started here, or None when it can.

    Returns
    -------
    str or None
        Why not (the tests skip with it, or fail in CI: :func:`unavailable`):
        not root, Slurm absent and no apt-get to install it, or Slurm
        daemons already running (another cluster, left alone).
    """
    if os.geteuid() != 0:
        return "starting a local SLURM cluster needs root (it runs slurmd and writes /etc/slurm/slurm.conf)"
    if not slurm_installed() and shutil.which("apt-get") is None:
        return f"Slurm is not installed and apt-get is absent to install it ({' '.join(PACKAGES)})"
    running = running_daemons()
    if running:
        return f"Slurm daemons already run on this machine ({running}): the test does not touch another cluster"
    return None


def in_ci() -> bool:
    """Whether the tests run in CI (the ``CI`` environment variable set, as
    CI services set it; empty, ``0``, ``false`` or ``no``: not CI)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """The cluster cannot be started: skip, saying why -- but in CI fail
    with the reason, so that the SLURM test never passes there by skipping."""
    if in_ci():
        pytest.fail(f"CI is set and the local SLURM cluster cannot be started: {reason}", pytrace=False)
    pytest.skip(reason)


def slurm_installed() -> bool:
    """Whether every Slurm and munge program the cluster needs is on PATH."""
    return all(shutil.which(name) for name in BINARIES)


def running_daemons() -> list[str]:
    """``name:pid`` of every slurmctld / slurmd process running now (a
    munged of the system's own is no obstacle: the cluster runs its own)."""
    return [entry for entry in _process_names() if entry.split(":")[0] in ("slurmctld", "slurmd")]


def _process_names() -> list[str]:
    """``name:pid`` of every process (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append(f"{(entry / 'comm').read_text().strip()}:{entry.name}")
            except OSError:
                continue
    return found


def install(timeout: int = 600) -> str | None:
    """Install Slurm and munge with apt-get when they are missing.

    ``apt-get update`` runs only when the first install fails (stale lists).

    Parameters
    ----------
    timeout
        Seconds allowed for each apt-get call.

    Returns
    -------
    str or None
        None when Slurm is installed afterwards, else why not (the end of
        apt-get's output).
    """
    if slurm_installed():
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    output = ""
    for step in ([command], [["apt-get", "update"], command]):
        output = ""
        for call in step:
            try:
                result = subprocess.run(call, capture_output=True, text=True, timeout=timeout, env=env,
                                        stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                return f"{' '.join(call)} took more than {timeout} s"
            output += result.stdout + result.stderr
            if result.returncode != 0:
                break
        if slurm_installed():
            return None
    return f"installing {' '.join(PACKAGES)} with apt-get failed: {output.strip()[-600:]}"


def node_name() -> str:
    """The short host name: the name slurmd registers under."""
    return socket.gethostname().split(".")[0]


class LocalSlurm:
    """One slurmctld and one slurmd on 127.0.0.1, with their own munged.

    Parameters
    ----------
    root
        An empty folder for the configuration, state, spool, logs and the
        munge key and socket (short enough for a UNIX socket path).
    cpus, memory_mb, gpus
        What the node advertises (``config_overrides``: not checked against
        the hardware; the CPUs are at least the machine's).
    min_job_age
        Seconds a finished job stays visible to ``squeue``.
    """

    def __init__(self, root: Path, cpus: int = 8, memory_mb: int = 32000, gpus: int = 1, min_job_age: int = 900):
        self.root = Path(root)
        self.cpus = max(cpus, os.cpu_count() or 1)
        self.memory_mb = memory_mb
        self.gpus = gpus
        self.min_job_age = min_job_age
        self.node = node_name()
        self.processes: dict[str, subprocess.Popen] = {}
        self._saved_conf: Path | None = None
        self._wrote_conf = False
        self._created_conf_dir = False

    # --- paths --------------------------------------------------------------
    def log(self, daemon: str) -> Path:
        """Log file of ``munged``, ``slurmctld`` or ``slurmd``."""
        return self.root / f"{daemon}.log"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    # --- configuration ----------------------------------------------------------
    def slurm_conf(self) -> str:
        """The slurm.conf text of this cluster."""
        root = self.root
        gres = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        lines = [
            "# Written by tests/slurm/slurm_cluster.py for a test run; removed after it.",
            "ClusterName=mimatest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.log('slurmctld')}",
            f"SlurmdLogFile={self.log('slurmd')}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/builtin",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            f"MinJobAge={self.min_job_age}",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            *(["GresTypes=gpu"] if self.gpus else []),
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb}{gres} State=UNKNOWN",
        ]
        lines += [f"PartitionName={name} Nodes={self.node} Default={'YES' if i == 0 else 'NO'} "
                  "MaxTime=INFINITE State=UP" for i, name in enumerate(PARTITIONS)]
        return "\n".join(lines) + "\n"

    def _install_conf(self) -> None:
        """Write slurm.conf to /etc/slurm, keeping what was there."""
        conf = self.root / "slurm.conf"
        conf.write_text(self.slurm_conf())
        # the daemons read gres.conf beside the slurm.conf they are given; a
        # GPU needs a device file to be counted (/dev/null: nothing to bind)
        gres = f"NodeName={self.node} Name=gpu File=/dev/null Count={self.gpus}\n" if self.gpus else ""
        (self.root / "gres.conf").write_text(gres)
        if not SYSTEM_CONF.parent.is_dir():
            SYSTEM_CONF.parent.mkdir(parents=True)
            self._created_conf_dir = True
        if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
            self._saved_conf = self.root / "slurm.conf.saved"
            shutil.copy2(SYSTEM_CONF, self._saved_conf, follow_symlinks=False)
        self._wrote_conf = True
        shutil.copy(conf, SYSTEM_CONF)

    def _restore_conf(self) -> None:
        if not self._wrote_conf:
            return
        if self._saved_conf is not None:
            SYSTEM_CONF.unlink(missing_ok=True)
            shutil.copy2(self._saved_conf, SYSTEM_CONF, follow_symlinks=False)
        else:
            SYSTEM_CONF.unlink(missing_ok=True)
            if self._created_conf_dir:
                try:
                    SYSTEM_CONF.parent.rmdir()
                except OSError:
                    pass
        self._wrote_conf = False

    # --- start / stop ------------------------------------------------------------
    def _spawn(self, name: str, command: list[str]) -> None:
        """Start one daemon, its output to ``<name>.out`` (never the caller's)."""
        with open(self.root / f"{name}.out", "ab") as log:
            self.processes[name] = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout: float = 60) -> None:
        """Start munged, slurmctld and slurmd, and wait until the node is idle.

        Raises
        ------
        RuntimeError
            A daemon exited, or the node was not idle within ``timeout``
            seconds (the message holds the end of the daemons' logs).
        """
        for folder in ("state", "spool", "munge"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        self._install_conf()
        conf = str(self.root / "slurm.conf")
        munge = self.root / "munge"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                               f"--socket={self.munge_socket}", f"--pid-file={munge / 'munged.pid'}",
                               f"--seed-file={munge / 'munged.seed'}", f"--log-file={self.log('munged')}"])
        self._wait(lambda: self.munge_socket.exists(), "munged's socket", timeout)
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", conf])
        self._wait(lambda: self._run(["scontrol", "ping"]).returncode == 0, "slurmctld", timeout)
        self._spawn("slurmd", ["slurmd", "-D", "-f", conf, "-N", self.node])
        self._wait(self._node_idle, f"node {self.node} idle", timeout)

    def _node_idle(self) -> bool:
        state = self.node_state()
        if state.rstrip("*~#$@+-") in ("inval", "drain", "drng", "fail"):
            raise RuntimeError(f"node {self.node} is {state}:\n" + self.logs_tail())
        return state == "idle"

    def _wait(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode} while waiting for {what}:\n"
                                       + self.logs_tail())
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} not ready after {timeout} s:\n" + self.logs_tail())

    def stop(self, timeout: float = 15) -> None:
        """Cancel this cluster's jobs, stop its daemons (SIGTERM, then SIGKILL,
        by PID, last started first) and put /etc/slurm/slurm.conf back."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            for partition in PARTITIONS:
                self._run(["scancel", f"--partition={partition}"])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._run(["squeue", "-h", "-t", "active"]).stdout.strip():
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        self._restore_conf()
        # job steps of this cluster's jobs end on their own once slurmd is gone
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(name.startswith("slurmstepd") for name in _process_names()):
            time.sleep(0.2)

    # --- queries --------------------------------------------------------------------
    def _run(self, command: list[str], timeout: float = 20) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as error:
            return subprocess.CompletedProcess(command, 124, error.stdout or "", error.stderr or "")

    def node_state(self) -> str:
        """The node's state as ``sinfo`` prints it (``idle``, ``down*``, ...)."""
        states = self._run(["sinfo", "-h", "-N", "-n", self.node, "-o", "%t"]).stdout.split()
        return states[0] if states else ""  # one line per partition, the same state

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job slurmctld remembers: ``{job id: {state, name, comment}}``
        (the executor's comment names the rule and wildcards of the job)."""
        result = self._run(["squeue", "--states=all", "-h", "-o", "%i|%T|%j|%k"])
        jobs = {}
        for line in result.stdout.splitlines():
            job_id, state, name, comment = (line.split("|") + [""] * 4)[:4]
            jobs[job_id] = {"state": state, "name": name, "comment": comment}
        return jobs

    def job_details(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` of one job as a ``{key: value}`` mapping."""
        text = self._run(["scontrol", "show", "job", "-o", job_id]).stdout
        details = {}
        for field in text.split():
            key, _, value = field.partition("=")
            details[key] = value
        return details

    def batch_script(self, job_id: str) -> str:
        """The batch script slurmctld holds for a job (``sbatch --wrap`` included)."""
        return self._run(["scontrol", "write", "batch_script", job_id, "-"]).stdout

    def logs_tail(self, chars: int = 2000) -> str:
        """The end of every daemon's log, for failure messages."""
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            for path in (self.log(name), self.root / f"{name}.out"):
                if path.exists():
                    parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)
