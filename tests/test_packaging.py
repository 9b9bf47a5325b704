"""Packaging and layering: every module is in the wheel, and the two cores stay pure."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("orchestrator", "scheduling", "samplers", "k8s")


def _modules_in_tree() -> set[str]:
    found = set()
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).with_suffix("")
            found.add("raysweep/" + "/".join(relative.parts) + ".py")
    return found


@pytest.mark.slow
def test_wheel_holds_every_module(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout}\n{built.stderr}"
    (wheel,) = tmp_path.glob("raysweep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = _modules_in_tree() - names
    assert not missing, f"modules missing from the wheel: {sorted(missing)}"
    for folder in FOLDERS:
        assert f"raysweep/{folder}/py.typed" in names
    # Nothing lands at the top level of site-packages but the raysweep package itself.
    top = {name.split("/")[0] for name in names if not name.startswith("raysweep-")}
    assert top == {"raysweep"}


# Imports every module of a package (recursively) with some modules blocked. The orchestrator's
# __init__ (the public API, which imports everything) is replaced by a bare package first, so
# that a layer's own imports are what is checked.
_BLOCKER = """
import importlib, importlib.abc, pkgutil, sys, types
PACKAGE, ROOT = sys.argv[1], sys.argv[2]
BLOCKED, ALLOWED = sys.argv[3].split(","), [a for a in sys.argv[4].split(",") if a]
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        # An allowed module, or a package above one (its __init__ runs first).
        if any(name == a or name.startswith(a + ".") or a.startswith(name + ".") for a in ALLOWED):
            return None
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{name} is blocked: {PACKAGE} must not import it")
        return None
bare = types.ModuleType("raysweep.orchestrator")
bare.__path__ = [ROOT + "/orchestrator"]
sys.modules["raysweep.orchestrator"] = bare
sys.meta_path.insert(0, Block())
package = importlib.import_module(PACKAGE)
for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
    importlib.import_module(info.name)
print("ok", sorted(m for m in sys.modules if m.startswith("raysweep.")))
"""

_O = "raysweep.orchestrator"
_PUBLIC = [f"{_O}.{m}" for m in ("_study", "_table", "_cli", "_best")]
# (package, what it must not import, exceptions to that): the layers of ARCHITECTURE.md.
_LAYERS = [
    ("raysweep.samplers", ["ray", "pyarrow", "kubernetes", _O, "raysweep.k8s"], []),
    ("raysweep.scheduling", ["ray", "pyarrow", "kubernetes", _O, "raysweep.k8s"], []),
    (
        f"{_O}._storage",
        [
            "ray",
            "kubernetes",
            # Only the S3 lease uses boto3, imported when it is first used: the optional extra.
            "boto3",
            "botocore",
            "raysweep.samplers",
            "raysweep.scheduling",
            f"{_O}._core",
            f"{_O}._ray",
            *_PUBLIC,
        ],
        [],
    ),
    (
        f"{_O}._core",
        ["ray", "pyarrow", "kubernetes", f"{_O}._ray", f"{_O}._storage", *_PUBLIC],
        [f"{_O}._storage._event"],
    ),
    (f"{_O}._ray", ["kubernetes", *_PUBLIC], []),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("package", "blocked", "allowed"), _LAYERS, ids=[layer[0] for layer in _LAYERS]
)
def test_each_layer_imports_only_what_it_may(
    package: str, blocked: list[str], allowed: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKER, package, str(ROOT), ",".join(blocked), ",".join(allowed)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


@pytest.mark.parametrize(
    ("core", "other"), [("samplers", "scheduling"), ("scheduling", "samplers")]
)
def test_cores_do_not_import_each_other(core: str, other: str) -> None:
    code = (
        f"import sys, importlib, pkgutil; import raysweep.{core} as p\n"
        "for m in pkgutil.iter_modules(p.__path__, p.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(any(m.split('.')[:2] == ['raysweep', '{other}'] for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_public_names_of_the_orchestrator() -> None:
    import raysweep.orchestrator as orchestrator

    assert sorted(orchestrator.__all__) == [
        "CorruptLogError",
        "DetachedStatus",
        "DetachedStudy",
        "DetachedStudyError",
        "DuplicatedStudyError",
        "ObjectiveUsageError",
        "RaysweepError",
        "ResourceUsage",
        "RunState",
        "StorageError",
        "Study",
        "StudyLockedError",
        "TPUSlice",
        "Trial",
        "TrialPaused",
        "TrialPruned",
        "TrialState",
        "TrialStateError",
        "UnplaceableResourcesError",
        "attach_study",
        "create_study",
        "detached_studies",
    ]
    # TrialState is the samplers' own (trial records carry it), re-exported for ask/tell.
    reexported = {"TrialState": "raysweep.samplers"}
    for name in orchestrator.__all__:
        home = reexported.get(name, "raysweep.orchestrator")
        assert getattr(orchestrator, name).__module__.startswith(home)


def test_bare_folder_imports_are_banned_by_ruff() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for folder in FOLDERS:
        assert f'"{folder}".msg' in text


_RUNNER_IMPORTS = r"""
import sys
import raysweep.orchestrator._ray._runner
heavy = ["scipy", "raysweep.samplers._gp", "raysweep.samplers._tpe", "raysweep.orchestrator._study",
         "raysweep.orchestrator._detached", "raysweep.orchestrator._ray._study_host"]
print(sorted(m for m in heavy if m in sys.modules))
import raysweep.orchestrator as o, raysweep.samplers as s
print(o.create_study.__module__, s.GPSampler.__module__, "GPSampler" in dir(s))
try:
    s.NoSuchSampler
except AttributeError as exc:
    print(exc)
"""


def test_a_runner_imports_only_what_it_runs_and_the_rest_comes_on_first_use() -> None:
    # A runner, a storage-check task and the pool start in fresh worker processes, each paying
    # for what it imports: the driver's API and the model-based samplers come when first used.
    out = subprocess.run(
        [sys.executable, "-c", _RUNNER_IMPORTS], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "[]",
        "raysweep.orchestrator._study raysweep.samplers._gp._sampler True",
        "module 'raysweep.samplers' has no attribute 'NoSuchSampler'",
    ]
