"""Security (issue #9): downloads are verified before use, checkpoints and
models load with ``weights_only=True``, no data file is unpickled, and no
config value can reach a shell command unquoted.

Checksums are also unit-tested in tests/unit/test_download.py (wrong md5 /
sha256, truncated transfer, corrupt mirror copy, lock file recorded then
verified); here the whole path is run through Snakemake.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mima.config import validate_config
from mima.data.checksum_lock import read_lock_file
from mima.errors import InputError
from pipeline_helpers import HANG_GUARD_S, REPO
from reliability_helpers import (
    assert_nothing_partial, assert_one_line_error, error_line, files_under, pipeline_config, run_pipeline,
    user_dataset, write_config, write_pair,
)

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SOURCES = sorted([*(REPO / "workflow").rglob("*.py"), *(REPO / "workflow" / "rules").glob("*.smk"),
                  REPO / "Snakefile"])


# --------------------------------------------------------------------------
# downloads verified by checksum before use
# --------------------------------------------------------------------------


def test_download_with_a_wrong_checksum_is_never_used(tmp_path):
    """A mirrored download whose md5 does not match stops at the download
    job: nothing lands under downloads/, no raw dataset is read from it."""
    mirror = tmp_path / "mirror"
    files = write_pair(mirror / "dl")
    md5 = {m: hashlib.md5(Path(path).read_bytes()).hexdigest() for m, path in files.items()}
    wrong = "0" * 32
    dataset = user_dataset({}, source="download", files={
        "rna": {"url": "http://127.0.0.1:9/rna.h5ad", "mirror": "dl/rna.h5ad", "md5": md5["rna"]},
        "adt": {"url": "http://127.0.0.1:9/adt.h5ad", "mirror": "dl/adt.h5ad", "md5": wrong},
    })
    config = pipeline_config({"dl": dataset})
    config["data_mirror"] = str(mirror)
    result = run_pipeline(tmp_path / "work", config, "results/dl/raw.h5mu")
    assert result.returncode != 0
    line = error_line(result.stderr, "InputError:")
    assert_one_line_error(line, files["adt"], "checksum mismatch", f"md5 expected {wrong} got {md5['adt']}",
                          "nothing was kept")
    assert files_under(tmp_path / "work" / "downloads") <= {"dl/rna.h5ad"}  # the verified one may land
    assert_nothing_partial(tmp_path / "work")


def test_lock_file_with_a_python_object_tag_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    lock = tmp_path / "checksums.lock.yaml"
    lock.write_text(f"file.h5ad: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]\n")
    with pytest.raises(InputError) as caught:
        read_lock_file(lock)
    assert_one_line_error(str(caught.value), str(lock), "lock file", "not plain YAML", "fix or delete")
    assert not marker.exists()


# --------------------------------------------------------------------------
# checkpoints and models: weights_only=True
# --------------------------------------------------------------------------


class Payload:
    """Unpickling this runs ``Path(marker).touch()`` -- what an attacker's
    checkpoint would do with arbitrary code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def poisoned(path: Path, marker: Path, state: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**state, "extra": Payload(marker)}, path)
    return path


def test_the_poisoned_file_really_runs_code_when_unpickled(tmp_path):
    """Control: the payload is live, so the refusals below are real."""
    marker = tmp_path / "pwned"
    torch.load(poisoned(tmp_path / "last.pt", marker, {"epoch": 1}), weights_only=False)
    assert marker.exists()


def test_checkpoint_holding_a_pickled_object_is_refused(tmp_path):
    from mima.train.trainer import load_checkpoint

    marker = tmp_path / "pwned"
    path = poisoned(tmp_path / ".ckpt" / "last.pt", marker, {"epoch": 1, "model": {"w": torch.zeros(2)}})
    with pytest.raises(InputError, match=r"last\.pt: weights: refused .*Weights only load failed.* fix: delete "):
        load_checkpoint(path, torch.device("cpu"))
    assert not marker.exists()


def test_truncated_checkpoint_is_one_line_error_naming_the_fix(tmp_path):
    from mima.train.trainer import load_checkpoint, save_checkpoint

    path = tmp_path / ".ckpt" / "last.pt"
    save_checkpoint(path, {"epoch": 1, "model": {"w": torch.zeros(1000)}})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match=r"last\.pt: weights: refused or unreadable .* fix: delete .*\.ckpt") as error:
        load_checkpoint(path, torch.device("cpu"))
    assert "\n" not in str(error.value)


def test_training_never_resumes_from_a_poisoned_checkpoint(tmp_path, paired):
    from mima.api import MIMA

    marker = tmp_path / "pwned"
    checkpoint_dir = tmp_path / ".ckpt"
    poisoned(checkpoint_dir / "last.pt", marker, {"epoch": 1})
    model = MIMA.setup(paired, ["m0", "m1"], model_params={"latent_dim": 4}, seed=0)
    with pytest.raises(InputError, match=r"\.ckpt"):
        model.train(paired, {"max_epochs": 2, "min_steps": 0, "progress": False}, checkpoint_dir=checkpoint_dir)
    assert not marker.exists()


def test_saved_model_holding_a_pickled_object_is_refused(tmp_path, paired):
    from mima.api import MIMA

    model = MIMA.setup(paired, ["m0", "m1"], model_params={"latent_dim": 4}, seed=0)
    model.train(paired, {"max_epochs": 1, "min_steps": 0, "progress": False})
    folder = model.save(tmp_path / "model")
    weights = torch.load(folder / "model.pt", weights_only=True)
    marker = tmp_path / "pwned"
    poisoned(folder / "model.pt", marker, weights)
    with pytest.raises(InputError, match=r"model\.pt: weights: .* fix: train the model again"):
        MIMA.load(folder)
    assert not marker.exists()


def test_every_torch_load_passes_weights_only_true():
    """Behaviour above; here every call site, so that no new ``torch.load``
    relies on torch's default (``weights_only=False`` before torch 2.6)."""
    calls = [(path, match.group(0)) for path in SOURCES
             for match in re.finditer(r"torch\.load\((?:[^()]|\([^()]*\))*\)", path.read_text())]
    assert calls, "no torch.load found: the scan is broken"
    assert [c for c in calls if "weights_only=True" not in c[1]] == []


# --------------------------------------------------------------------------
# no pickle from data files
# --------------------------------------------------------------------------

#: Ways to run code or unpickle while reading a file.
UNSAFE = {
    "pickle module": r"\bimport (?:c?pickle|dill|cloudpickle)\b|\bfrom (?:c?pickle|dill|cloudpickle) import"
                     r"|\bfrom joblib import[^\n]*\bload\b",
    "pickle load": r"\b(?:c?pickle|dill|cloudpickle|joblib)\.loads?\(",
    "pandas pickle": r"\bread_pickle\(",
    "numpy pickles": r"allow_pickle\s*=\s*True",
    "unsafe yaml": r"\byaml\.(?:load|unsafe_load|full_load|load_all)\(|yaml\.(?:Unsafe|Full)?Loader\b",
    "eval / exec": r"(?<![\w.])(?:eval|exec)\(",
    "shell=True": r"shell\s*=\s*True",
    "os.system": r"\bos\.(?:system|popen)\(",
}


def unsafe_uses(text: str) -> list[str]:
    """Names of the :data:`UNSAFE` patterns found in ``text`` (comments
    and docstrings included: cheap, and a false alarm is easily reworded)."""
    return [name for name, pattern in UNSAFE.items() if re.search(pattern, text)]


@pytest.mark.parametrize("snippet, found", [
    ("import pickle\nstate = pickle.load(handle)", ["pickle module", "pickle load"]),
    ("frame = pd.read_pickle(path)", ["pandas pickle"]),
    ("x = np.load(path, allow_pickle=True)", ["numpy pickles"]),
    ("settings = yaml.load(text, Loader=yaml.Loader)", ["unsafe yaml"]),
    ("subprocess.run(cmd, shell=True)", ["shell=True"]),
    ("value = eval(text)", ["eval / exec"]),
    ("from joblib import dump, load", ["pickle module"]),
    ("settings = yaml.safe_load(text); x = np.load(path); model.eval(); from joblib import Parallel", []),
])
def test_the_unsafe_code_scan_finds_what_it_should(snippet, found):
    assert unsafe_uses(snippet) == found


def test_no_data_file_is_unpickled_or_evaluated():
    """h5ad / h5mu are read with anndata / mudata, configs and lock files
    with yaml.safe_load, weights with torch.load(weights_only=True): nothing
    in the workflow unpickles, evaluates or shells out."""
    found = {str(path.relative_to(REPO)): unsafe_uses(path.read_text()) for path in SOURCES}
    assert {path: names for path, names in found.items() if names} == {}
    assert len(SOURCES) > 30  # the scan saw the workflow


# --------------------------------------------------------------------------
# wildcards and shell commands
# --------------------------------------------------------------------------

HOSTILE = ["a b", "a;b", "$(id)", "`id`", "a'b", 'a"b', "a/b", "..", "../x", "a\nb", "a|b", "a&b", "a>b", "-rf", "*",
           "", "a\\b"]
PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]+)\}(?!\})")


def unquoted_placeholders(shell: str) -> list[str]:
    """Placeholders of a shell command that put a file name, parameter,
    wildcard or config value in unquoted (without Snakemake's ``:q``)."""
    risky = ("input", "output", "params", "wildcards", "config", "log")
    return [p for p in PLACEHOLDER.findall(shell)
            if p.split(".")[0].split("[")[0].split(":")[0] in risky and not p.endswith(":q")]


def test_the_shell_check_finds_unquoted_values():
    assert unquoted_placeholders("tool {input} -o {output:q} -t {threads} --x {params.x} {{literal}}") == [
        "input", "params.x"]
    assert unquoted_placeholders("tool {input:q} -o {output.h5:q} --mem {resources.mem_mb} {wildcards.d:q}") == []


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    """Every rule of the workflow as the shipped config.yaml builds it."""
    workdir = tmp_path_factory.mktemp("rules")
    write_config(workdir, yaml.safe_load((REPO / "config.yaml").read_text()))
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("workflow_rules.py")), str(REPO / "Snakefile"),
                             str(workdir / "config.yaml"), str(workdir)], capture_output=True, text=True,
                            timeout=HANG_GUARD_S, cwd=workdir)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RULES-JSON ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[0].removeprefix("RULES-JSON "))


def test_every_wildcard_is_constrained_to_safe_characters(rules):
    constraints = {}
    for rule in rules:
        for pattern in rule["patterns"]:
            for name, regex in re.findall(r"\{(\w+)(?:,((?:[^{}]|\{[^{}]*\})*))?\}", pattern):
                assert regex, f"rule {rule['name']}: wildcard {name} of {pattern} has no constraint"
                constraints[f"{rule['name']}.{name}"] = regex
        assert set(rule["wildcards"]) <= {key.split(".")[1] for key in constraints if key.startswith(f"{rule['name']}.")}
    assert {"download_file.dataset", "download_geo.filename", "classification.clf_input"} <= set(constraints)
    for where, regex in constraints.items():
        accepted = [value for value in HOSTILE if re.fullmatch(f"(?:{regex})", value)]
        assert accepted == [], f"{where} ({regex}) accepts {accepted}"


def test_no_rule_puts_a_value_into_a_shell_command_unquoted(rules):
    assert len(rules) > 20
    shells = {rule["name"]: rule["shell"] for rule in rules if rule["shell"]}
    assert {name: unquoted_placeholders(cmd) for name, cmd in shells.items() if unquoted_placeholders(cmd)} == {}
    # today no rule has shell: at all -- each job is a script that receives values as Python objects;
    # the rules without a script are the named targets (the rehearsal's per-dataset ones included)
    targets = {"demo", "starters", "paper", "ci", "rehearsal"}
    assert all(rule["script"] or rule["name"] in targets or rule["name"].startswith("rehearsal_") for rule in rules), \
        [r["name"] for r in rules if not r["script"]]


@pytest.mark.parametrize("where, hostile, words", [
    ("dataset", "x;rm -rf ~", ["datasets", "'x;rm -rf ~'", "letters, digits and _"]),
    ("modality", "rna $(id)", ["datasets.mine.modalities", "'rna $(id)'", "letters, digits and _"]),
    ("geo url", "https://example.org/$(id).h5ad.gz", ["datasets.mine.url", "'$(id).h5ad.gz'", "plain file name"]),
])
def test_config_names_that_become_file_names_or_wildcards_are_refused(where, hostile, words):
    dataset = user_dataset({"rna": "rna.h5ad", "adt": "adt.h5ad"})
    name = "mine"
    if where == "dataset":
        name = hostile
    elif where == "modality":
        dataset["modalities"][hostile] = dataset["modalities"].pop("adt")
        dataset["files"] = {"rna": "rna.h5ad"}
    else:
        dataset.update(source="geo", url=hostile)
        dataset.pop("files")
    config = pipeline_config({name: dataset})
    with pytest.raises(InputError) as caught:
        validate_config(config, SCHEMA)
    assert_one_line_error(str(caught.value), "config.yaml", *words)
