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
    subprocess.run(
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
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("raysweep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = _modules_in_tree() - names
    assert not missing, f"modules missing from the wheel: {sorted(missing)}"
    for folder in FOLDERS:
        assert f"raysweep/{folder}/py.typed" in names
    # Nothing lands at the top level of site-packages but the raysweep package itself.
    top = {name.split("/")[0] for name in names if not name.startswith("raysweep-")}
    assert top == {"raysweep"}


_BLOCKER = """
import importlib.abc, sys
BLOCKED = {"ray", "pyarrow", "kubernetes", "raysweep.orchestrator", "raysweep.k8s"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{name} is blocked: the cores must not import it")
        return None
sys.meta_path.insert(0, Block())
import pkgutil, importlib
for core in ("raysweep.samplers", "raysweep.scheduling"):
    package = importlib.import_module(core)
    for info in pkgutil.iter_modules(package.__path__, core + "."):
        importlib.import_module(info.name)
print("ok", sorted(m for m in sys.modules if m.startswith("raysweep.")))
"""


def test_cores_import_without_ray_pyarrow_kubernetes() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKER], capture_output=True, text=True, check=False
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
        "DuplicatedStudyError",
        "ObjectiveUsageError",
        "RaysweepError",
        "ResourceUsage",
        "StorageError",
        "Study",
        "StudyLockedError",
        "Trial",
        "TrialPaused",
        "TrialPruned",
        "TrialStateError",
        "UnplaceableResourcesError",
        "create_study",
    ]
    for name in orchestrator.__all__:
        assert getattr(orchestrator, name).__module__.startswith("raysweep.orchestrator")


def test_bare_folder_imports_are_banned_by_ruff() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for folder in FOLDERS:
        assert f'"{folder}".msg' in text
