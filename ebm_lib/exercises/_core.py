"""The machinery shared by all self-checks: run a check, print one verdict (see __init__)."""

from __future__ import annotations

from collections.abc import Callable


class CheckFailed(Exception):
    """Raised inside a check to report what is wrong."""


def run_check(name: str, check: Callable[[], str]) -> bool:
    """Run ``check`` (which returns what it verified or raises CheckFailed) and print the verdict."""
    try:
        detail = check()
    except NotImplementedError:
        print(f"Not done yet ({name}): replace the `raise NotImplementedError` with your code and run the cell again.")
        return False
    except CheckFailed as fail:
        print(f"Not quite ({name}): {fail}")
        return False
    except Exception as err:  # the student's code raised: report it instead of crashing
        print(f"Not quite ({name}): your code raised {type(err).__name__}: {err}")
        return False
    print(f"Correct ({name}): {detail}")
    return True
