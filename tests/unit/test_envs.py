"""Conda env files (envs/*.yaml), read as files: valid, free of paths,
every package pinned to requirements.lock's version.

Conda packages are compared under their PyPI names (tests/conda/
conda_to_pypi.yaml, the mapping the conda stand-in installs from). That the
files really build and run every job is tests/conda/test_conda_envs.py.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
MAPPING = yaml.safe_load((REPO / "tests" / "conda" / "conda_to_pypi.yaml").read_text())
CHANNELS = {"conda-forge", "bioconda", "nodefaults"}
CONDA_PIN = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_.-]*)(?:(?P<op>==|=)(?P<version>[0-9][0-9a-z.]*))?$")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[normalized(name)] = version.strip()
    return pins


def conda_packages(env: dict) -> list[str]:
    return [dep for dep in env["dependencies"] if isinstance(dep, str)]


def pip_lines(env: dict) -> list[str]:
    return [str(item) for dep in env["dependencies"] if isinstance(dep, dict) for item in dep.get("pip", [])]


def test_there_are_env_files():
    assert ENV_FILES, "envs/ holds no env file"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_is_valid_and_its_channels_are_conda_forge_first(path):
    env = yaml.safe_load(path.read_text())
    assert set(env) == {"name", "channels", "dependencies"}, sorted(env)
    assert env["channels"][0] == "conda-forge" and env["channels"][-1] == "nodefaults", env["channels"]
    assert set(env["channels"]) <= CHANNELS, env["channels"]
    for dep in env["dependencies"]:
        assert isinstance(dep, str) or (isinstance(dep, dict) and set(dep) == {"pip"}), dep
    assert bool(pip_lines(env)) == ("pip" in conda_packages(env)), "a pip: section needs pip, and only then"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_refers_to_no_path(path):
    """Snakemake copies an env file to <conda-prefix>/<hash>.yaml before
    conda builds it, and conda runs pip from that copy's folder: a relative
    path (``-e ../``) resolves under .snakemake/, an absolute one to this
    machine only. The library reaches the jobs through
    workflow/scripts/_workflow_library.py instead."""
    env = yaml.safe_load(path.read_text())
    for item in [*conda_packages(env), *pip_lines(env)]:
        assert not re.search(r"^\s*(-|\.|~|file:)|[/\\]", item), f"{path.name}: {item!r} refers to a path"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_every_pin_equals_requirements_lock(path):
    env, pins = yaml.safe_load(path.read_text()), lock()
    for dep in conda_packages(env):
        match = CONDA_PIN.match(dep)
        assert match, f"{path.name}: {dep!r} is not `name==version`"
        name, op, pinned = match["name"], match["op"], match["version"]
        if name == "python":
            major_minor = ".".join(platform.python_version_tuple()[:2])
            assert op == "=" and pinned == major_minor, f"{path.name}: {dep!r}; the venv runs Python {major_minor}"
            continue
        if name in MAPPING["provided"]:
            continue
        assert name in MAPPING["pypi"], f"{path.name}: conda package {name!r} is not in conda_to_pypi.yaml"
        pypi = normalized(MAPPING["pypi"][name])
        assert op == "==", f"{path.name}: {dep!r} is not an exact pin (==)"
        assert pypi in pins, f"{path.name}: {name} (PyPI {pypi}) is not in requirements.lock"
        assert pinned == pins[pypi], f"{path.name}: {name}=={pinned} but requirements.lock has {pypi}=={pins[pypi]}"
    for item in pip_lines(env):
        name, sep, pinned = item.partition("==")
        assert sep, f"{path.name}: pip package {item!r} is not pinned with =="
        assert pinned == pins.get(normalized(name)), \
            f"{path.name}: {name}=={pinned} but requirements.lock has {pins.get(normalized(name))}"


def test_the_mapping_lists_only_packages_of_the_env_files():
    """No stale entry; ``pip`` may stay listed unused (the stand-in reads any
    env file's ``pip:`` section, e.g. that of tests/conda's relative-path test)."""
    used = {CONDA_PIN.match(dep)["name"] for path in ENV_FILES
            for dep in conda_packages(yaml.safe_load(path.read_text()))}
    assert (set(MAPPING["pypi"]) | set(MAPPING["provided"])) - {"pip"} == used - {"pip"}


def test_library_top_level_import_is_light():
    """Every tool env imports mima; the top level must not pull torch or jax."""
    code = "import sys, mima, mima.config, mima.data.io, mima.embeddings; print(sorted(m for m in ('torch', 'jax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_pinned_package_imports_in_the_venv():
    """'Installed' is not 'working': import each env file's packages (under
    their PyPI names) in this venv, which has the same versions."""
    from importlib.metadata import packages_distributions

    modules_of: dict[str, list[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(normalized(distribution), []).append(module)
    wanted = set()
    for path in ENV_FILES:
        env = yaml.safe_load(path.read_text())
        names = [MAPPING["pypi"][CONDA_PIN.match(dep)["name"]] for dep in conda_packages(env)
                 if CONDA_PIN.match(dep)["name"] in MAPPING["pypi"]]
        names += [item.partition("==")[0] for item in pip_lines(env)]
        for name in names:
            candidates = [m for m in modules_of.get(normalized(name), []) if not m.startswith("_") and m.isidentifier()]
            assert candidates, f"{path.name}: no importable module found for {name}"
            wanted.add(sorted(candidates, key=len)[0])
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    result = subprocess.run([sys.executable, "-c", code, *sorted(wanted)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
