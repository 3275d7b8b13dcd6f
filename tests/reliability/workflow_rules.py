"""Print the rules of the workflow as JSON (run as a script, in its own
process: loading a Snakefile changes process-wide state).

Usage: ``python workflow_rules.py SNAKEFILE CONFIGFILE WORKDIR``. Each rule:
``name``, ``wildcards`` (names), ``patterns`` (output, log and benchmark
file patterns, with the wildcard constraints Snakemake applied inline, as
``{name,regex}``), ``shell`` (the shell command or null), ``script`` (the
script path or null), ``run`` (whether it has a ``run:`` block) and
``conda`` (the absolute path of its conda env file, or null).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def describe(snakefile: Path, configfile: Path, workdir: Path) -> list[dict]:
    """The rules of ``snakefile`` loaded with ``configfile`` in ``workdir``."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(),
                                config_settings=ConfigSettings(configfiles=[configfile]),
                                snakefile=snakefile, workdir=workdir)._workflow
        rules = []
        for rule in workflow.rules:
            patterns = [str(item) for item in [*rule.output, *rule.log]]
            if rule.benchmark is not None:
                patterns.append(str(rule.benchmark))
            rules.append({
                "name": rule.name,
                "wildcards": sorted(rule.wildcard_names),
                "patterns": patterns,
                "shell": rule.shellcmd if rule.is_shell else None,
                "script": rule.script,
                "run": bool(rule.run_func) and not rule.is_shell and not rule.script and not rule.norun,
                "conda": conda_file(rule),
            })
        return rules


def conda_file(rule) -> str | None:
    """The absolute path of a rule's ``conda:`` env file (relative paths are
    relative to the rule's file), or None."""
    if rule.conda_env is None:
        return None
    path = Path(str(rule.conda_env))
    return str(path if path.is_absolute() else (Path(str(rule.basedir)) / path).resolve())


if __name__ == "__main__":
    snakefile, configfile, workdir = map(Path, sys.argv[1:4])
    print("RULES-JSON " + json.dumps(describe(snakefile, configfile, workdir)))
