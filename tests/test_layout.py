"""The project's shape: no import cycle, a Dagster-free lib/, short modules, and the dg CLI.

`dg check defs`, `dg list defs` and `dg launch` run here as a person runs them, from the
project folder, against a warehouse in a temp folder.
"""

import ast
import graphlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import grimp
import pytest
from dagster.components.definitions import LazyDefinitions

from retail_assets.definitions import build_definitions

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "retail_assets"
#: "About 500 lines": a longer module needs its folder README to say why.
MAX_LINES = 520


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Every import counts: at module level, inside functions and under TYPE_CHECKING.
    return grimp.build_graph("retail_assets", include_external_packages=True, cache_dir=None)


def _own(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    return {
        m: {d for d in graph.find_modules_directly_imported_by(m) if d.startswith("retail_assets")}
        for m in graph.modules
        if m.startswith("retail_assets")
    }


def _where(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    return ", ".join(f"line {d['line_number']}: {d['line_contents']}" for d in details)


def test_no_import_cycle_inside_retail_assets(graph):
    try:
        graphlib.TopologicalSorter(_own(graph)).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        steps = [
            f"{a} -> {b} ({_where(graph, a, b)})" for a, b in zip(cycle, cycle[1:], strict=False)
        ]
        pytest.fail("import cycle:\n  " + "\n  ".join(steps))


def test_lib_imports_no_dagster_and_nothing_outside_lib(graph):
    bad = []
    for module in sorted(m for m in graph.modules if m.startswith("retail_assets.lib")):
        for dep in sorted(graph.find_modules_directly_imported_by(module)):
            outside = dep.startswith("retail_assets") and not dep.startswith("retail_assets.lib")
            if dep.split(".")[0].startswith("dagster") or outside:
                bad.append(f"{module} imports {dep} ({_where(graph, module, dep)})")
    assert not bad, "lib/ is plain Python:\n" + "\n".join(bad)


def test_long_modules_are_explained_by_their_folder_readme():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = len(path.read_text().splitlines())
        if lines <= MAX_LINES:
            continue
        readme = path.parent / "README.md"
        said = readme.exists() and any(
            path.name in line and "lines" in line for line in readme.read_text().splitlines()
        )
        if not said:
            unexplained.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not unexplained, "split these, or say why in the folder README:\n" + "\n".join(
        unexplained
    )


def test_every_lib_module_is_named_in_its_folder_readme():
    """Each domain folder of lib/ has a README naming its modules (a package inside it may
    name its own in its README or its docstring)."""
    lib = PACKAGE / "lib"
    missing = [
        f"{d.relative_to(ROOT)} has no README.md"
        for d in lib.iterdir()
        if d.is_dir() and (d / "__init__.py").exists() and not (d / "README.md").exists()
    ]
    for module in sorted(lib.rglob("*.py")):
        if module.name == "__init__.py" or module.parent == lib:
            continue
        texts = [
            p.read_text()
            for p in (module.parent, *module.parent.parents)
            if p.is_relative_to(lib) and (p / "README.md").exists()
            for p in [p / "README.md"]
        ]
        texts.append(
            ast.get_docstring(ast.parse((module.parent / "__init__.py").read_text())) or ""
        )
        if not any(re.search(rf"(?<![\w.]){re.escape(module.name)}", t) for t in texts):
            missing.append(f"{module.relative_to(ROOT)} is named in no README of its folders")
    named = (lib / "README.md").read_text()
    missing += [
        f"lib/README.md does not name {m.name}"
        for m in lib.glob("*.py")
        if m.name != "__init__.py" and m.name not in named
    ]
    assert not missing, "\n".join(missing)


def test_every_defs_module_declares_its_objects_or_holds_none():
    """What Dagster's loader reads: one ``defs`` per module, or nothing it would collect.

    A module without ``defs`` has its module-level assets, jobs, schedules and sensors
    collected, imported ones included: they would then be defined twice.
    """
    problems = []
    for path in sorted((PACKAGE / "defs").rglob("*.py")):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        declared = [
            v for v in vars(module).values() if isinstance(v, (dg.Definitions, LazyDefinitions))
        ]
        if len(declared) > 1 and any(isinstance(v, dg.Definitions) for v in declared):
            problems.append(f"{path.relative_to(ROOT)}: {len(declared)} Definitions objects")
        if declared:
            continue
        found = dg.load_definitions_from_module(module)
        stray = [
            getattr(o, "name", None) or str(getattr(o, "key", o))
            for kind in (found.assets, found.asset_checks, found.jobs, found.schedules)
            for o in kind or []
        ] + [s.name for s in found.sensors or []]
        if stray:
            problems.append(f"{path.relative_to(ROOT)} has no defs but holds {stray}")
    assert not problems, "\n".join(problems)


def _dg(*args: str, tmp_path: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    dg = shutil.which("dg", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert dg, "the dg CLI is missing: pip install -e '.[test]' installs dagster-dg-cli"
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").touch()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RETAIL_DATA_DIR": str(tmp_path / "data"),
        "RETAIL_CUSTOMERS": "1000",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [dg, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_dg_check_defs(tmp_path):
    proc = _dg("check", "defs", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All definitions loaded successfully" in proc.stdout + proc.stderr


def test_dg_list_defs_lists_what_the_code_location_defines(tmp_path):
    proc = _dg("list", "defs", "--json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    assert {a["asset_key"] for a in listed["assets"]} == {
        k.to_user_string() for k in graph.get_all_asset_keys()
    }
    assert {j["name"] for j in listed["jobs"]} >= {j.name for j in defs.jobs}
    assert {s["name"] for s in listed["schedules"]} == {s.name for s in defs.schedules}
    assert {s["name"] for s in listed["sensors"]} == {s.name for s in defs.sensors}
    groups = {a["asset_key"]: a["group_name"] for a in listed["assets"]}
    assert groups["raw/sessions"] == "sources" and groups["ml/purchase_propensity"] == "models"


def test_dg_launch_materializes_a_day_range_in_one_run(tmp_path):
    proc = _dg(
        "launch",
        "--assets",
        "raw/signals",
        "--partition-range",
        "2025-03-01...2025-03-03",
        tmp_path=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stderr.count("RUN_SUCCESS") + proc.stdout.count("RUN_SUCCESS") == 1
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        days = con.sql("select count(distinct signal_date) from raw.signals").fetchone()[0]
    assert days == 3
