"""Every error a user can cause, with where it happened and what to do about it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Where:
    """A place in a project file (1-based line and column), shown as `flows/orders.yml:7:3`."""

    file: Path
    line: int | None = None
    column: int | None = None
    root: Path | None = None

    def __str__(self) -> str:
        shown = self.file
        if self.root is not None:
            try:
                shown = self.file.relative_to(self.root)
            except ValueError:
                pass
        text = shown.as_posix()
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


_POLARS_EXPRESSION = "\n\nThis error occurred in the following expression:"


class HyggeError(Exception):
    """Root of every error a user can cause; printed without a traceback.

    `exit_code` is what the CLI exits with; `retryable` says whether trying again may help.
    """

    exit_code = 2
    retryable = False

    def __init__(self, message: str, *, where: Where | str | None = None, hint: str | None = None) -> None:
        # Raised in a Polars expression (a per-batch check), the error comes back made anew from its text with
        # the expression appended, which says nothing to a user: the text before it is the whole error.
        message = message.split(_POLARS_EXPRESSION, 1)[0]
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        return self.described if self.where is None else f"{self.where}  {self.described}"

    @property
    def described(self) -> str:
        """The message and the hint, without where."""
        text = self.message
        if self.hint:
            end = "" if text.rstrip().endswith((".", "?", "!", ":")) else "."  # two sentences, not one run-on
            text = f"{text.rstrip()}{end} {self.hint}"
        return text


class ProjectError(HyggeError):
    """The project files are wrong: bad YAML, unknown keys, unresolved names, cycles."""


class UsageError(HyggeError):
    """The command line is wrong: nothing selected, unknown selector, bad option value."""


class FlowError(HyggeError):
    """A flow failed while running; its downstream is skipped, the rest of the run goes on."""

    exit_code = 1


class TransientFlowError(FlowError):
    """A flow failed for a reason that may pass (a lost connection, a lock)."""

    retryable = True


class MissingDriverError(ProjectError):
    """A connector needs a package that is not installed."""

    def __init__(self, type_name: str, module: str, extra: str, *, where: Where | str | None = None) -> None:
        super().__init__(
            f"connector '{type_name}' needs the Python package '{module}', which is not installed.",
            where=where,
            hint=f'Install it with: pip install "hygge[{extra}]"',
        )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers and Polars add pages of context below it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def did_you_mean(word: str, choices: Iterable[str], *, kind: str) -> str:
    """A hint such as "Did you mean 'shop_db'? Homes: drops, shop_db"."""
    names = sorted(set(choices))
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    parts = []
    if close:
        parts.append(f"Did you mean '{close[0]}'?")
    parts.append(f"{kind}: {', '.join(names)}" if names else f"There are no {kind.lower()}.")
    return " ".join(parts)
