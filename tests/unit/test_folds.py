"""folds.tsv: written by within_sample_folds, read back and selected from
one way (read_folds, cell_folds, fold_masks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mima.data.folds import cell_folds, fold_masks, read_folds, within_sample_folds
from mima.errors import InputError


def test_folds_round_trip_and_select_the_cells_of_a_fold(tmp_path):
    batch = pd.Series(["s0", "s1"] * 10, index=[f"c{i}" for i in range(20)])
    written = within_sample_folds(batch, n_folds=4, seed=1)
    path = tmp_path / "folds.tsv"
    written.to_csv(path, sep="\t", index=False)
    folds = read_folds(path)
    pd.testing.assert_frame_equal(folds, written)
    cells = pd.Index(batch.index[::-1])  # any order: selection follows the cells given
    expected = written.set_index("cell")["fold"].reindex(cells).to_numpy()
    np.testing.assert_array_equal(cell_folds(folds, cells), expected)
    train, heldout = fold_masks(folds, cells, 2)
    np.testing.assert_array_equal(heldout, expected == 2)
    np.testing.assert_array_equal(train, ~heldout)


def test_numeric_cell_names_stay_names(tmp_path):
    path = tmp_path / "folds.tsv"
    path.write_text("cell\tbatch\tfold\n001\ts\t0\n2\ts\t1\n")
    folds = read_folds(path)
    assert list(folds["cell"]) == ["001", "2"]
    np.testing.assert_array_equal(cell_folds(folds, pd.Index(["2", "001"])), [1, 0])


@pytest.mark.parametrize("content, field", [
    ("cell\tbatch\nc0\ts\n", "fold"),
    ("barcode\tfold\nc0\t0\n", "cell"),
    ("cell\tfold\nc0\tzero\n", "fold"),
    ("cell\tfold\nc0\t0\nc0\t1\n", "cell"),
    ("", "header"),
])
def test_a_malformed_folds_file_is_one_line_naming_the_file_and_column(tmp_path, content, field):
    path = tmp_path / "folds.tsv"
    path.write_text(content)
    with pytest.raises(InputError) as error:
        read_folds(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: {field}: ")
    assert error.value.field == field


def test_cells_without_a_fold_are_an_error(tmp_path, paired):
    path = tmp_path / "folds.tsv"
    pd.DataFrame({"cell": paired.obs_names[:-1], "fold": 0}).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match="no fold") as error:
        fold_masks(read_folds(path), paired.obs_names, 0)
    assert str(error.value).startswith(f"{path}: cell: ") and paired.obs_names[-1] in str(error.value)
