"""Searchers: which configuration to evaluate next. Importing registers the built-in ones."""

from __future__ import annotations

from jahs_bo.searchers.base import Searcher, available_searchers, make_searcher, register_searcher
from jahs_bo.searchers.evolution import RegularizedEvolution
from jahs_bo.searchers.local import LocalSearch
from jahs_bo.searchers.random import RandomSearcher

__all__ = [
    "LocalSearch",
    "RandomSearcher",
    "RegularizedEvolution",
    "Searcher",
    "available_searchers",
    "make_searcher",
    "register_searcher",
]
