"""One error type for everything a user can fix: the CLI prints its message as one line, no traceback."""


class HarnessError(Exception):
    """A problem with the user's input or environment. The message names the problem and the fix."""

    exit_code = 2


def closest(name: str, choices) -> str:
    """' (did you mean X?)' for the nearest valid choice, or '' when nothing is close."""
    import difflib

    match = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
