"""Fixtures shared by every test."""

from __future__ import annotations

import mudata
import pytest

from helpers import make_mudata

mudata.set_options(pull_on_update=False)


@pytest.fixture
def paired():
    """120 random cells, a sparse and a dense modality, three samples."""
    return make_mudata()
