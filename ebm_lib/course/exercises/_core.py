"""The machinery shared by all self-checks: run a check, print one verdict (see __init__)."""

from __future__ import annotations

from collections.abc import Callable


class CheckFailed(Exception):
    """Raised inside a check to report what is wrong."""


class CheckResult:
    """The outcome of a check: true when the code passed. It has already printed its verdict,
    so Jupyter displays nothing more when a check is the last line of a cell."""

    def __init__(self, passed: bool, message: str):
        self.passed = passed
        self.message = message

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:
        pass  # the verdict was printed when the check ran


def run_check(name: str, check: Callable[[], str]) -> CheckResult:
    """Run ``check`` (which returns what it verified or raises CheckFailed) and print the verdict."""
    try:
        detail = check()
    except NotImplementedError:
        return _verdict(
            False,
            f"Not done yet ({name}): replace the `raise NotImplementedError` with your code and run the cell again.",
        )
    except CheckFailed as fail:
        return _verdict(False, f"Not quite ({name}): {fail}")
    except Exception as err:  # the student's code raised: report it instead of crashing
        return _verdict(False, f"Not quite ({name}): your code raised {type(err).__name__}: {err}")
    return _verdict(True, f"Correct ({name}): {detail}")


def _verdict(passed: bool, message: str) -> CheckResult:
    print(message)
    return CheckResult(passed, message)
