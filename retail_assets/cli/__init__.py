"""The ``retail-assets`` command, one module per family of subcommands.

- ``parser``: the argparse wiring of every subcommand and ``main`` (the console script).
- ``materialize``: ``materialize``, the whole platform for a range of days in a few runs.
- ``runner``: runs jobs in this process; run tags, failure messages, dead runs reaped.
- ``summary``: the summary printed after ``materialize`` (tables, models, delivery).
- ``ui``: ``init`` (a configuration folder) and ``ui`` (``dagster dev``).
- ``warehouse``: ``catalog refresh``, ``quarantine`` and ``compile``.
- ``score``: ``score`` with a champion model, without Dagster.
- ``verify``: ``verify`` a DSP payload against the run that made it.
- ``paths``: the Dagster home, and paths as shown to a person.
"""

from retail_assets.cli.parser import main

__all__ = ["main"]
