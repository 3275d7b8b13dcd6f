"""Conda env files (envs/*.yaml): conda cannot be built here, so check that
each is valid, fully pinned, and pins the versions this venv runs."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
# conda-level packages that the venv does not have as Python distributions
CONDA_ONLY = {"python", "pip"}


def pip_pins(env: dict) -> list[str]:
    return [item for dep in env["dependencies"] if isinstance(dep, dict) for item in dep.get("pip", [])]


def test_there_are_env_files():
    assert ENV_FILES, "envs/ holds no env file"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_is_valid_and_pinned_to_the_venv(path):
    env = yaml.safe_load(path.read_text())
    assert set(env) >= {"name", "channels", "dependencies"}
    assert "defaults" not in env["channels"]
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, _, pinned = dep.partition("=")
            assert pinned, f"{path.name}: conda package {dep!r} is not pinned"
            if name not in CONDA_ONLY:
                assert version(name) == pinned, f"{path.name}: {name} {pinned} but the venv has {version(name)}"
    for item in pip_pins(env):
        if item.startswith("-e "):
            assert re.fullmatch(r"-e \.\./(\[[a-z,-]+\])?", item), item
            continue
        name, sep, pinned = item.partition("==")
        assert sep, f"{path.name}: pip package {item!r} is not pinned with =="
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{path.name}: {name} is not installed in the venv")
        assert installed.split("+")[0] == pinned, f"{path.name}: {name}=={pinned} but the venv has {installed}"


def test_library_top_level_import_is_light():
    """Every tool env imports mima; the top level must not pull torch or jax."""
    code = "import sys, mima, mima.config, mima.data.io, mima.embeddings; print(sorted(m for m in ('torch', 'jax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_pinned_package_imports_in_the_venv():
    """'Installed' is not 'working': import each env file's pip packages."""
    from importlib.metadata import packages_distributions

    modules_of: dict[str, list[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(distribution.lower().replace("_", "-"), []).append(module)
    wanted = set()
    for path in ENV_FILES:
        for item in pip_pins(yaml.safe_load(path.read_text())):
            if not item.startswith("-e "):
                name = item.partition("==")[0].lower().replace("_", "-")
                candidates = [m for m in modules_of.get(name, []) if not m.startswith("_") and m.isidentifier()]
                assert candidates, f"{path.name}: no importable module found for {name}"
                wanted.add(sorted(candidates, key=len)[0])
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    result = subprocess.run([sys.executable, "-c", code, *sorted(wanted)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
