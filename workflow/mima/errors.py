"""One exception type for bad user input.

Every message is one line that names the file, the field and the fix, so a
user can act on it without reading a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (data or configuration).

    Parameters
    ----------
    source
        The file (or config) the problem was found in.
    field
        The field, column, modality or key at fault.
    problem
        What is wrong.
    fix
        What the user should do about it.
    """

    def __init__(self, source: str, field: str, problem: str, fix: str):
        self.source = str(source)
        self.field = str(field)
        self.problem = problem
        self.fix = fix
        message = f"{self.source}: {self.field}: {problem} -- fix: {fix}"
        super().__init__(" ".join(message.split()))


def one_line(error: BaseException, limit: int = 500) -> str:
    """``Type: message`` of an exception on one line (for failure records)."""
    return " ".join(f"{type(error).__name__}: {error}".split())[:limit]
