"""Imported first by every rule script: puts the workflow's own library
(``workflow/mima``) first on the import path.

Snakemake runs a script with its folder (``workflow/scripts``) appended to
``sys.path``, so this module is found in any environment — the one
virtual environment, a tool's conda env, a cluster node — and the library
then comes from the workflow being run, never from an installed copy (which
may be absent, as in the conda envs, or another version).
"""

import sys
from pathlib import Path

LIBRARY = str(Path(__file__).resolve().parents[1])
if LIBRARY in sys.path:
    sys.path.remove(LIBRARY)
sys.path.insert(0, LIBRARY)
