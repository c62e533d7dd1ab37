"""Exception hierarchy of jahs-bo.

Every error raised on purpose by the library derives from :class:`JahsBOError`. Errors caused by
wrong input (a malformed space, grammar or configuration, an unknown trial, a second ``tell``) are
also ``ValueError``\\ s, so callers that already catch ``ValueError`` keep working. Messages name the
offending value and say how to fix it.
"""

from __future__ import annotations


class JahsBOError(Exception):
    """Base class of all errors raised by jahs-bo."""


class InputError(JahsBOError, ValueError):
    """Wrong input given to jahs-bo (also a ``ValueError``)."""


class InvalidSpaceError(InputError):
    """A search space, domain or fidelity definition is malformed."""


class GrammarError(InvalidSpaceError):
    """A grammar text or a derivation string is malformed."""


class InvalidConfigError(InputError):
    """A configuration does not belong to its search space."""


class TrialNotFoundError(InputError, KeyError):
    """A trial id or number that the study does not know."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class TrialStateError(InputError):
    """An operation that the trial's state forbids (for example a second ``tell``)."""


class ObjectiveValueError(InputError):
    """Objective values of the wrong number, type or direction."""


class StorageError(JahsBOError):
    """The storage backend cannot be opened, read or written."""


class CorruptStudyError(StorageError):
    """A stored study is damaged or tampered with; the message names the file and what is wrong."""


class StorageNotFoundError(StorageError, InputError):
    """A storage that must exist (to load a study from it) does not, or its directory is missing."""


class StudyNotFoundError(StorageError, InputError):
    """``load_study`` was asked for a study name that the storage does not hold."""


class DuplicateStudyError(StorageError, InputError):
    """``create_study`` was asked for a name that already exists (pass ``load_if_exists=True``)."""
