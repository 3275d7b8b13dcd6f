#!/usr/bin/env python3
"""A stand-in for ``conda``, for the conda test (tests/conda/test_conda_envs.py).

The conda channels cannot be reached from the machines the tests run on.
This program implements exactly the conda commands Snakemake's conda code
(``snakemake/deployment/conda.py``, Snakemake 9) runs, and fails loudly on
anything else:

``conda --version``
    a version above Snakemake's minimum;
``conda info --json``
    ``conda_prefix``: this folder, whose ``bin/activate`` Snakemake sources
    before every job of an env (``source <conda_prefix>/bin/activate
    '<env prefix>'; python ...``); ``platform``: ``linux-64``;
``conda config --get channel_priority --json``
    ``strict``, as conda-forge and bioconda recommend;
``conda env create --quiet --no-default-packages --file <f> --prefix <p>``
    the env file ``<f>`` (Snakemake's copy of it, ``<conda-prefix>/<hash>.yaml``)
    built at ``<p>``: a virtual environment (``uv venv``) of the Python running
    the tests, into which uv installs, for every conda package of the file, the
    PyPI distribution that ``tests/conda/conda_to_pypi.yaml`` names, at the
    pinned version, and the file's ``pip:`` section as written. Like conda,
    the ``pip:`` lines are read from a requirements file written beside the
    env file and installed from that folder, so a path in them resolves as it
    would under conda. Each build is appended, as one JSON line, to
    ``<conda-prefix>/conda-standin-envs.jsonl`` (file, prefix, what was
    installed, seconds);
``conda clean -y --tarballs`` (``--packages``)
    after each creation (Snakemake's default ``--conda-cleanup-pkgs
    tarballs``): nothing to do, the stand-in keeps no tarballs;
``conda run --prefix <p> <command>...``
    ``<command>`` with the env first on ``PATH``.

What is real in a run with this stand-in: Snakemake's conda code path (env
hashing, the copy of each env file, creation, activation, the ``python`` of
the env running each script), the env files and their pins. What is stood
in: conda's solver and the channels (conda-forge and bioconda builds are
replaced by the PyPI wheels of the same versions).

The virtual environments are built by uv (``MIMA_CONDA_STANDIN_UV``, else
``uv`` on ``PATH``, else the ``uv`` Python package) with a shared cache
(``MIMA_CONDA_STANDIN_CACHE``, default ``~/.cache/mima-conda-standin/uv``),
compiling the packages' bytecode as conda does when it installs them. pip's ``find-links`` folders are searched too; where one holds a CPU wheel of
the pinned torch (``torch-<version>+cpu-...whl``) that wheel is used, and
otherwise uv takes torch's CPU build (``--torch-backend cpu``): never a
multi-GB CUDA build.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

#: What ``conda --version`` answers (Snakemake needs >= 24.7.1).
VERSION = "25.1.1"
BASE = Path(__file__).resolve().parent
MAPPING = BASE.parent / "conda_to_pypi.yaml"
LOG_NAME = "conda-standin-envs.jsonl"
ENV_KEYS = {"name", "channels", "dependencies"}
SPEC = re.compile(r"^(?:[\w.-]+::)?(?P<name>[A-Za-z0-9_.-]+)\s*(?:(?P<op>==|=|>=|<=|>|<|!=)\s*(?P<version>[^\s=]+))?$")


class StandinError(Exception):
    """A request the stand-in cannot honour (printed, exit status 1)."""


def main(argv: list[str]) -> int:
    try:
        if argv == ["--version"]:
            print(f"conda {VERSION}")
        elif argv == ["info", "--json"]:
            print(json.dumps(info(), indent=2))
        elif argv == ["config", "--get", "channel_priority", "--json"]:
            print(json.dumps({"get": {"channel_priority": "strict"}, "rc_path": None, "success": True,
                              "warnings": []}))
        elif argv[:2] == ["env", "create"]:
            env_create(argv[2:])
        elif argv[:1] == ["clean"]:
            options(argv[1:], {"-y", "--yes", "--tarballs", "-t", "--packages", "-p", "--quiet", "-q"}, {})
            print("nothing to clean: the stand-in keeps no package tarballs (uv's cache is shared between builds)")
        elif argv[:1] == ["run"]:
            return run(argv[1:])
        else:
            raise StandinError(f"`conda {' '.join(argv)}` is not implemented by the conda stand-in "
                               f"({Path(__file__).name}: only what Snakemake's conda code calls)")
    except StandinError as error:
        print(f"conda stand-in: {error}", file=sys.stderr)
        return 1
    return 0


def info() -> dict:
    return {
        "conda_prefix": str(BASE),
        "root_prefix": str(BASE),
        "platform": "linux-64",
        "conda_version": VERSION,
        "python_version": platform.python_version(),
        "envs_dirs": [],
        "channels": [],
        "standin": "tests/conda/standin/conda_standin.py: no solver, no channels (PyPI wheels through uv)",
    }


def options(argv: list[str], flags: set[str], valued: dict[str, str]) -> dict[str, str]:
    """Parse ``argv``: ``flags`` are accepted and ignored, ``valued`` maps
    each option taking a value (``--x v`` or ``--x=v``) to its key."""
    found: dict[str, str] = {}
    items = list(argv)
    while items:
        item = items.pop(0)
        name, eq, value = item.partition("=")
        if item in flags:
            continue
        if name in valued:
            if not eq:
                if not items:
                    raise StandinError(f"{name} needs a value")
                value = items.pop(0)
            found[valued[name]] = value
            continue
        raise StandinError(f"option {item!r} is not implemented by the conda stand-in")
    return found


def env_create(argv: list[str]) -> None:
    given = options(argv, {"--quiet", "-q", "--no-default-packages", "--yes", "-y"},
                    {"--file": "file", "-f": "file", "--prefix": "prefix", "-p": "prefix"})
    if set(given) != {"file", "prefix"}:
        raise StandinError("env create needs --file and --prefix (named environments are not stood in)")
    file, prefix = Path(given["file"]).absolute(), Path(given["prefix"]).absolute()
    started = time.monotonic()
    env = yaml.safe_load(file.read_text())
    if not isinstance(env, dict) or set(env) - ENV_KEYS or "dependencies" not in env:
        raise StandinError(f"{file}: keys {sorted(env) if isinstance(env, dict) else env!r}; "
                           f"the stand-in reads only {sorted(ENV_KEYS)}")
    requirements, pip_lines = requirements_of(env["dependencies"], file)
    uv = uv_executable()
    cache = Path(os.environ.get("MIMA_CONDA_STANDIN_CACHE") or Path.home() / ".cache" / "mima-conda-standin" / "uv")
    common = ["--no-config", "--cache-dir", str(cache)]
    call([uv, "venv", "--quiet", "--no-project", *common, "--python", sys.executable, str(prefix)], file.parent)
    links = find_links()
    # --compile-bytecode: conda compiles a package's .pyc files when it installs it
    install = [uv, "pip", "install", "--quiet", "--compile-bytecode", *common, "--python",
               str(prefix / "bin" / "python")]
    install += [arg for link in links for arg in ("--find-links", link)]
    torch = torch_source(requirements, links)
    with tempfile.TemporaryDirectory(prefix="conda-standin-") as scratch:
        if torch.startswith("torch=="):
            override = Path(scratch) / "overrides.txt"
            override.write_text(torch + "\n")
            install += ["--overrides", str(override)]
        elif torch:
            install += ["--torch-backend", "cpu"]
        if pip_lines:
            # what conda does with a pip: section: a requirements file beside the
            # env file, installed from that folder (relative paths resolve there)
            with tempfile.NamedTemporaryFile("w", dir=file.parent, prefix="condaenv.", suffix=".requirements.txt",
                                             delete=False) as handle:
                handle.write("\n".join(pip_lines) + "\n")
            install += ["-r", handle.name]
        try:
            call(install + requirements, file.parent)
        finally:
            if pip_lines:
                os.unlink(handle.name)
    record = {"file": str(file), "prefix": str(prefix), "name": env.get("name"), "channels": env.get("channels"),
              "installed": requirements, "pip": pip_lines, "torch": torch or None,
              "python": platform.python_version(), "seconds": round(time.monotonic() - started, 1)}
    with open(prefix.parent / LOG_NAME, "a") as log:
        log.write(json.dumps(record) + "\n")


def requirements_of(dependencies: list, file: Path) -> tuple[list[str], list[str]]:
    """PyPI requirements for the conda packages, and the pip: lines."""
    mapping = yaml.safe_load(MAPPING.read_text())
    requirements, pip_lines = [], []
    for dep in dependencies:
        if isinstance(dep, dict):
            if set(dep) != {"pip"}:
                raise StandinError(f"{file}: dependency {dep!r} is not a pip: section")
            pip_lines += [str(line) for line in dep["pip"]]
            continue
        match = SPEC.match(str(dep))
        if not match:
            raise StandinError(f"{file}: {dep!r} is not a conda spec the stand-in reads (name, name=version, "
                               "name==version; no build strings)")
        name, op, version = match["name"], match["op"], match["version"]
        if name == "python":
            if version and not python_matches(op, version):
                raise StandinError(f"{file}: python{op}{version}, but the stand-in builds with Python "
                                   f"{platform.python_version()} ({sys.executable})")
            continue
        if name in mapping["provided"]:
            continue
        if name not in mapping["pypi"]:
            raise StandinError(f"{file}: conda package {name!r} has no PyPI name in {MAPPING.name}")
        pypi = mapping["pypi"][name]
        if op == "=":  # conda's fuzzy pin: 1.2 means 1.2.*
            requirements.append(f"{pypi}=={version}.*")
        else:
            requirements.append(f"{pypi}{op or ''}{version or ''}")
    return requirements, pip_lines


def python_matches(op: str, version: str) -> bool:
    running = platform.python_version()
    if op == "=":
        return running == version or running.startswith(version + ".")
    if op == "==":
        return running == version
    raise StandinError(f"python{op}{version}: only = and == pins of python are stood in")


def find_links() -> list[str]:
    """pip's find-links folders (``pip config get global.find-links``)."""
    result = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                            capture_output=True, text=True)
    return result.stdout.split() if result.returncode == 0 else []


def torch_source(requirements: list[str], links: list[str]) -> str:
    """How torch is kept to a CPU build: ``torch==<v>+cpu`` (a local CPU
    wheel of the pinned version), ``cpu-index`` (uv's ``--torch-backend
    cpu``), or empty when the env file asks for no torch."""
    wanted = [r for r in requirements if re.split(r"[=<>!]", r, maxsplit=1)[0].lower() == "torch"]
    if not wanted:
        return ""
    pinned = re.fullmatch(r"torch==([0-9.]+)", wanted[0])
    if pinned:
        for link in links:
            if list(Path(link).glob(f"torch-{pinned[1]}+cpu-*.whl")):
                return f"torch=={pinned[1]}+cpu"
    return "cpu-index"


def uv_executable() -> str:
    found = os.environ.get("MIMA_CONDA_STANDIN_UV") or shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin
    except ImportError:
        raise StandinError("uv is needed to build envs (pip install uv, as in requirements.lock)") from None
    return find_uv_bin()


def call(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StandinError(f"{' '.join(command)} failed ({result.returncode}) in {cwd}:\n"
                           f"{(result.stdout + result.stderr).strip()[-4000:]}")


def run(argv: list[str]) -> int:
    split = next((i for i, item in enumerate(argv) if not item.startswith("-")
                  and (i == 0 or argv[i - 1] not in ("--prefix", "-p"))), len(argv))
    given = options(argv[:split], {"--no-capture-output", "--live-stream"}, {"--prefix": "prefix", "-p": "prefix"})
    if "prefix" not in given or split == len(argv):
        raise StandinError("run needs --prefix and a command")
    prefix = Path(given["prefix"]).absolute()
    if not (prefix / "bin" / "python").exists():
        raise StandinError(f"{prefix} is not an environment the stand-in built")
    env = {**os.environ, "PATH": f"{prefix / 'bin'}:{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(prefix),
           "CONDA_PREFIX": str(prefix)}
    return subprocess.run(argv[split:], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
