"""The index of the reliability catalogue (issue #9): every case and the
test(s) that prove it. A test below checks that each named test exists, so
the index cannot silently rot when a test is renamed."""

from __future__ import annotations

import re

from pipeline_helpers import REPO

CATALOGUE_FILE = "tests/reliability/test_bad_input_catalogue.py"
FAULTS_FILE = "tests/reliability/test_faults.py"
SECURITY_FILE = "tests/reliability/test_security.py"
REPRO_FILE = "tests/reliability/test_reproducibility.py"

#: case -> [(file, test function), ...]
CATALOGUE = {
    # bad inputs: one line naming file / field / fix, nothing partial left
    "config key misspelt": [(CATALOGUE_FILE, "test_config_error_stops_snakemake_before_any_job")],
    "unknown method": [(CATALOGUE_FILE, "test_config_error_stops_snakemake_before_any_job")],
    "method not applicable to the modalities": [(CATALOGUE_FILE, "test_config_error_stops_snakemake_before_any_job")],
    "a modality without a file, or a file of no modality (start-up)": [
        (CATALOGUE_FILE, "test_config_error_stops_snakemake_before_any_job")],
    "target naming an undefined dataset": [(CATALOGUE_FILE, "test_target_naming_an_undefined_dataset")],
    "dataset file missing": [(CATALOGUE_FILE, "test_dataset_file_missing_stops_snakemake_with_one_line"),
                             (CATALOGUE_FILE, "test_dataset_file_missing_library")],
    "a download without md5 / sha256: its sha256 recorded at the first download, verified after": [
        (CATALOGUE_FILE, "test_a_download_without_checksum_is_recorded_then_verified")],
    "h5ad that is not HDF5 / truncated download": [
        (CATALOGUE_FILE, "test_truncated_download_stops_snakemake_with_one_line"),
        (CATALOGUE_FILE, "test_h5ad_that_is_not_hdf5")],
    "modalities with different cells": [(CATALOGUE_FILE, "test_modalities_with_different_cells")],
    "modalities with a different cell order": [(CATALOGUE_FILE, "test_modalities_with_different_cell_order")],
    "duplicate cell names": [(CATALOGUE_FILE, "test_duplicate_cell_names_stop_snakemake_with_one_line"),
                             (CATALOGUE_FILE, "test_duplicate_cell_names")],
    "NaN / inf in an input": [(CATALOGUE_FILE, "test_nan_or_inf_in_counts"),
                              (CATALOGUE_FILE, "test_nan_or_inf_in_a_modality_used_as_provided")],
    "negative values where counts are expected": [(CATALOGUE_FILE, "test_negative_values_where_counts_are_expected"),
                                                  (CATALOGUE_FILE, "test_negative_values_under_log1p")],
    "non-integer counts (already normalised?): the value as a number, as_provided / log1p suggested": [
        (CATALOGUE_FILE, "test_non_integer_counts_stop_snakemake_with_one_line"),
        (CATALOGUE_FILE, "test_non_integer_counts")],
    "batch column missing": [(CATALOGUE_FILE, "test_batch_column_missing")],
    "label column missing (configured)": [(CATALOGUE_FILE, "test_configured_label_column_missing")],
    "label column missing (unlabelled data): labelled metrics skipped, the rest runs": [
        (CATALOGUE_FILE, "test_unlabelled_data_skip_labelled_metrics_with_a_notice"),
        (CATALOGUE_FILE, "test_unlabelled_dataset_keeps_every_job_that_needs_no_labels")],
    "a single batch: batch metrics and LOOCV skipped with a notice": [
        (CATALOGUE_FILE, "test_single_batch_skips_batch_metrics_with_a_notice"),
        (CATALOGUE_FILE, "test_single_batch_classification_skips_loocv_with_a_notice")],
    "a sample with one cell": [(CATALOGUE_FILE, "test_sample_with_one_cell")],
    "a class with < 3 cells": [(CATALOGUE_FILE, "test_class_with_fewer_than_three_cells_is_not_scored_with_a_notice")],
    "ATAC var names that are not coordinates": [(CATALOGUE_FILE, "test_atac_var_names_that_are_not_coordinates")],
    "all-zero features and all-zero cells": [
        (CATALOGUE_FILE, "test_all_zero_features_and_cells_are_kept_with_a_notice")],
    "an empty modality": [(CATALOGUE_FILE, "test_an_empty_modality")],
    "spatial key missing": [(CATALOGUE_FILE, "test_spatial_key_missing")],
    "configured obs column / obsm key absent: the file's columns and the config key to set": [
        ("tests/unit/test_assemble_prepare.py", "test_absent_obs_column_names_the_config_key_and_lists_the_columns")],
    "Zenodo file name not in the record: the record's files listed, nothing kept": [
        ("tests/unit/test_download.py", "test_zenodo_wrong_configured_name_lists_the_record_and_leaves_nothing")],
    "modality named in config absent from the file": [
        (CATALOGUE_FILE, "test_modality_named_in_config_absent_from_the_h5mu")],
    "an as_provided modality with integer X and no counts layer: X serves as its counts, logged": [
        ("tests/unit/test_preprocess.py", "test_integer_x_without_counts_serves_as_counts_when_used_as_provided")],
    "long jobs log their progress (scvi-tools epochs, MOFA+ iterations, downloads)": [
        ("tests/unit/test_methods_scvi.py", "test_training_logs_its_epochs_as_progress"),
        ("tests/unit/test_methods_classic.py", "test_mofa_logs_its_iterations_as_progress"),
        ("tests/unit/test_progress.py", "test_a_download_logs_its_size_when_done")],
    # faults
    "MIMA training killed mid-run resumes and ends like an uninterrupted run": [
        (FAULTS_FILE, "test_killed_training_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_run"),
        ("tests/unit/test_train.py", "test_checkpoint_resume_ends_like_an_uninterrupted_run")],
    "download interrupted half-way is restarted cleanly": [
        (FAULTS_FILE, "test_download_killed_half_way_is_restarted_cleanly"),
        (FAULTS_FILE, "test_stale_part_file_never_counts_as_the_download"),
        ("tests/unit/test_download.py", "test_truncated_transfer_raises_and_leaves_nothing")],
    "a crashing competitor leaves every other result": [
        ("tests/pipeline/test_pipeline.py", "test_failing_methods_leave_every_other_result_and_a_failure_row")],
    "failed methods are the run's last lines, with what to delete; deleting it redoes exactly that work": [
        ("tests/pipeline/test_pipeline.py", "test_failing_methods_leave_every_other_result_and_a_failure_row"),
        ("tests/unit/test_failure_summary.py", "test_failed_models_and_methods_are_listed_with_what_to_delete")],
    "outputs written atomically": [
        (FAULTS_FILE, "test_a_write_failing_half_way_leaves_no_file_under_the_final_name"),
        (FAULTS_FILE, "test_a_writer_killed_mid_write_leaves_no_file_under_the_final_name"),
        (FAULTS_FILE, "test_every_h5ad_and_h5mu_the_pipeline_writes_goes_through_the_atomic_writers")],
    # reproducibility
    "two ci runs give identical embeddings and tables": [
        (REPRO_FILE, "test_two_ci_runs_give_identical_embeddings_and_tables"),
        (REPRO_FILE, "test_two_ci_runs_give_identical_summary_rows")],
    "the run records package versions and the effective config": [
        (REPRO_FILE, "test_the_run_records_package_versions"),
        (REPRO_FILE, "test_the_run_records_the_effective_config"),
        (REPRO_FILE, "test_a_changed_setting_reruns_the_record")],
    # security
    "downloads verified by checksum before use": [
        (SECURITY_FILE, "test_download_with_a_wrong_checksum_is_never_used"),
        ("tests/unit/test_download.py", "test_wrong_checksum_raises_and_leaves_nothing"),
        ("tests/unit/test_download.py", "test_lock_file_records_then_verifies"),
        ("tests/unit/test_download.py", "test_corrupt_mirror_copy_is_rejected"),
        ("tests/unit/test_download.py", "test_zenodo_md5_mismatch_keeps_nothing"),
        ("tests/unit/test_download.py", "test_geo_mirror_copy_must_match_the_mirror_lock")],
    "checkpoints and models loaded with weights_only=True": [
        (SECURITY_FILE, "test_checkpoint_holding_a_pickled_object_is_refused"),
        (SECURITY_FILE, "test_training_never_resumes_from_a_poisoned_checkpoint"),
        (SECURITY_FILE, "test_saved_model_holding_a_pickled_object_is_refused"),
        (SECURITY_FILE, "test_every_torch_load_passes_weights_only_true")],
    "no pickle from data files": [(SECURITY_FILE, "test_no_data_file_is_unpickled_or_evaluated"),
                                  (SECURITY_FILE, "test_lock_file_with_a_python_object_tag_is_refused_not_run")],
    "wildcards constrained, no config value in a shell command unquoted": [
        (SECURITY_FILE, "test_every_wildcard_is_constrained_to_safe_characters"),
        (SECURITY_FILE, "test_no_rule_puts_a_value_into_a_shell_command_unquoted"),
        (SECURITY_FILE, "test_config_names_that_become_file_names_or_wildcards_are_refused")],
}


def test_every_case_names_tests_that_exist():
    missing = []
    for case, tests in CATALOGUE.items():
        assert tests, case
        for path, name in tests:
            text = (REPO / path).read_text()
            if not re.search(rf"^def {re.escape(name)}\(", text, re.M):
                missing.append(f"{case}: {path}::{name}")
    assert missing == []


def test_the_catalogue_covers_the_issue():
    """Issue #9 asks for at least 15 bad inputs."""
    bad_inputs = [case for case, tests in CATALOGUE.items() if any(path == CATALOGUE_FILE for path, _ in tests)]
    assert len(bad_inputs) >= 15
