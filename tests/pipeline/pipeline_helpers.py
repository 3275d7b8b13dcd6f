"""Running Snakemake on the repository's Snakefile from a test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]


def snakemake(workdir: Path, *args: str, configfile: Path | None = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's Snakefile inside ``workdir`` with
    ``configfile`` (default: the workdir's config.yaml)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               *args, "--configfile", str(configfile or workdir / "config.yaml")]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=workdir)


def new_workdir(base: Path) -> Path:
    """A working folder with a copy of config.yaml (results go there)."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config.yaml", base / "config.yaml")
    return base


