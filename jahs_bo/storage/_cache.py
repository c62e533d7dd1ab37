"""The in-memory copy of one study's trials that the SQL storages keep between reads.

Finished trials stay here; each refresh re-reads only the new trials and the unfinished ones (see
:mod:`jahs_bo.storage.sql`). The copy also keeps the parts every ask needs (finished trials in
number order, running ones, whether any is lost) up to date as rows arrive, so an ask costs what
changed, not the size of the study.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from jahs_bo.storage.base import LOST, TrialViews
from jahs_bo.types import Trial


@dataclass
class StudyCache:
    """The trials of one study seen so far: numbers ``0..len(trials)-1``."""

    trials: list[Trial] = field(default_factory=list)
    unfinished: set[int] = field(default_factory=set)  # numbers re-read by every refresh
    finished: list[Trial] = field(default_factory=list)  # in number order, kept as rows change
    finished_numbers: list[int] = field(default_factory=list)  # their numbers, for bisect
    lost: set[int] = field(default_factory=set)  # numbers of trials marked lost

    def place(self, trial: Trial) -> bool:
        """Take in a trial just (re-)read; ``False`` (and nothing changed) if its number would
        leave a gap, so the caller reads from there again next time."""
        number = trial.number
        if number < len(self.trials):
            self.trials[number] = trial
        elif number == len(self.trials):
            self.trials.append(trial)
        else:
            return False
        if trial.state.is_finished:
            self.unfinished.discard(number)
            i = bisect.bisect_left(self.finished_numbers, number)
            if i < len(self.finished_numbers) and self.finished_numbers[i] == number:
                self.finished[i] = trial
            else:
                self.finished_numbers.insert(i, number)
                self.finished.insert(i, trial)
        else:
            self.unfinished.add(number)
        if trial.system_attrs.get(LOST):
            self.lost.add(number)
        else:
            self.lost.discard(number)
        return True

    def views(self) -> TrialViews:
        """Copies of the lists (the trials themselves are shared)."""
        running = [self.trials[n] for n in sorted(self.unfinished) if n < len(self.trials)]
        return TrialViews(
            list(self.trials),
            list(self.finished),
            [t for t in running if not t.state.is_finished],
            bool(self.lost),
        )
