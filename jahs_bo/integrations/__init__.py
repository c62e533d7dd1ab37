"""Bridges to other tuning frameworks; each imports its framework only when used.

* :mod:`jahs_bo.integrations.ray_tune`: :class:`~jahs_bo.integrations.ray_tune.JahsBOSearch`,
  a Ray Tune ``Searcher``, and conversions between jahs-bo spaces and Ray Tune ``param_space``
  dicts (:mod:`jahs_bo.integrations.ray_tune_space`). Needs ``pip install "jahs-bo[ray]"``.
"""

from __future__ import annotations
