"""The pipeline tests share one tiny end-to-end run of the `ci` target: the
session fixture ``ci_run`` lives in tests/conftest.py, so that
tests/reliability uses the same run."""
