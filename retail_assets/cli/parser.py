"""Command line: ``retail-assets materialize | ui | catalog refresh | compile | score | verify``.

This module holds the argparse wiring of every subcommand and ``main``, the entry point (the
first line above is the ``--help`` description); each command's code is in a module beside it.
"""

from __future__ import annotations

import argparse
import logging

from retail_assets.cli.materialize import _customers, cmd_materialize
from retail_assets.cli.score import cmd_score
from retail_assets.cli.ui import cmd_init, cmd_ui
from retail_assets.cli.verify import cmd_verify
from retail_assets.cli.warehouse import cmd_catalog_refresh, cmd_compile, cmd_quarantine

log = logging.getLogger("retail_assets")


def _configure_logging(*, quiet: bool) -> None:
    """Log lines for a person: INFO by default; for a quiet ``materialize`` only errors.

    A quiet ``materialize`` draws its own progress: the Python warnings and the libraries'
    log lines (alembic migrating the instance's SQLite, Dagster's own) are noise there; the
    run's events are in the instance anyway.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if quiet:
        import warnings

        warnings.simplefilter("ignore")
        logging.getLogger().setLevel(logging.ERROR)
        for name in ("alembic", "dagster", "retail_assets"):
            logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``retail-assets`` command."""
    parser = argparse.ArgumentParser(prog="retail-assets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("materialize", help="materialize every asset for daily partitions")
    m.add_argument("--start", help="first partition (YYYY-MM-DD)")
    m.add_argument("--end", help="last partition (default: yesterday)")
    m.add_argument(
        "--days",
        type=int,
        help="number of partitions ending at --end (default: RETAIL_DEMO_DAYS, 365)",
    )
    m.add_argument(
        "--customers",
        type=_customers,
        help="size of the simulated customer base (sets RETAIL_CUSTOMERS; default 20,000)",
    )
    m.add_argument(
        "--verbose",
        action="store_true",
        help="print Dagster's event stream and every log line (the UI shows them anyway)",
    )
    m.set_defaults(func=cmd_materialize)
    i = sub.add_parser("init", help="write a configuration folder with a sources.yaml template")
    i.add_argument("folder", nargs="?", default="config")
    i.add_argument("--force", action="store_true", help="overwrite files that exist")
    i.set_defaults(func=cmd_init)
    u = sub.add_parser("ui", help="start the Dagster UI and daemon")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=cmd_ui)
    c = sub.add_parser("catalog", help="manage the warehouse catalog")
    csub = c.add_subparsers(dest="catalog_command", required=True)
    r = csub.add_parser("refresh", help="create the views of every table in the lake")
    r.set_defaults(func=cmd_catalog_refresh)
    q = sub.add_parser("quarantine", help="list rows set aside from your files, by reason")
    q.add_argument("--show", type=int, default=0, help="also print the first N rows")
    q.set_defaults(func=cmd_quarantine)
    k = sub.add_parser("compile", help="print a SQL model rendered for a partition")
    k.add_argument("model")
    k.add_argument("--partition", help="first day, YYYY-MM-DD (incremental models)")
    k.add_argument("--end", help="last day of a range, YYYY-MM-DD (default: --partition)")
    k.set_defaults(func=cmd_compile)
    sc = sub.add_parser(
        "score", help="score customers or texts with a champion model (no Dagster needed)"
    )
    sc.add_argument("model", choices=["propensity", "segments", "sentiment"])
    sc.add_argument("text", nargs="*", help="texts to score (sentiment)")
    sc.add_argument("--as-of", help="day of features.user_features to score (default: latest)")
    sc.add_argument("--input", help="a CSV or Parquet file of user features to score instead")
    sc.add_argument("--customer", action="append", help="only this customer_key (repeatable)")
    sc.add_argument("--output", help="write CSV here instead of standard output")
    sc.set_defaults(func=cmd_score)
    v = sub.add_parser(
        "verify",
        help="check a DSP payload file: its body hash, and its lineage against the Dagster "
        "run that made it (exit 1 on any mismatch)",
    )
    v.add_argument("payload", help="path to a payload.json")
    v.set_defaults(func=cmd_verify)
    args = parser.parse_args(argv)
    _configure_logging(quiet=args.func is cmd_materialize and not args.verbose)
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2
