"""RESULTS.md sections and the facts every benchmark section states (command, date, machine).

Each benchmark owns one section of `benchmarks/RESULTS.md`, between `<!-- NAME:start -->` and
`<!-- NAME:end -->`; :func:`write_section` replaces that section (or appends it) and leaves the
rest of the file as it was; :func:`publish` prints a section and writes it.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
RESULTS = BENCHMARKS / "RESULTS.md"


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of the section called `name`."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"section name {name!r}: use lower-case letters, digits, '-' or '_'")
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def wrap(name: str, body: str) -> str:
    """`body` between the markers of `name`, as :func:`write_section` expects it."""
    start, end = markers(name)
    return f"{start}\n{body.rstrip()}\n\n{end}\n"


def write_section(path: Path, name: str, text: str) -> None:
    """Replace section `name` of `path` with `text` (which includes its markers), or append it."""
    start, end = markers(name)
    old = path.read_text(encoding="utf-8") if path.exists() else "# raysweep benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


def publish(name: str, body: str, *, out: Path, print_only: bool) -> None:
    """Print section `name` (`body` between its markers) and, unless `print_only`, write it to
    `out`."""
    text = wrap(name, body)
    print(text)
    if not print_only:
        write_section(out, name, text)
        print(f"wrote section {name!r} of {out}", file=sys.stderr)


def command() -> str:
    """The command line that runs this process, with the interpreter relative to the cwd.

    A benchmark started with `python -m benchmarks.<family>.<name>` has the module's file in
    `sys.argv[0]`; the command says `-m <module>` instead, so that it can be run again as written.
    """
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = ["-m", spec.name] if spec is not None else sys.argv[:1]
    return shlex.join([str(python), *program, *sys.argv[1:]])


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit() -> str:
    """The short hash of HEAD, noting uncommitted changes (results may not match the commit)."""

    def run(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=BENCHMARKS, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = run("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" + uncommitted changes" if run("status", "--porcelain") else "")


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine(*packages: str) -> str:
    """CPUs, CPU model, Python, the given packages' versions, raysweep's commit, load average."""
    versions = "".join(f", {p} {version(p)}" for p in packages)
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (`nproc`), {cpu_model()}, Python "
        f"{platform.python_version()}{versions}, raysweep at {git_commit()}; "
        f"load average (1/5/15 min) at the start {load_average()}"
    )


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def header(title: str, *, cmd: str, date: str, machine_text: str, total_s: float) -> str:
    """The lines every section starts with: title, command, date, run time, machine."""
    return (
        f"## {title}\n\n"
        f"Command: `{cmd}`  \nDate: {date}; run time {total_s / 60:.1f} min "
        "(runs already in the cache are not rerun and not counted)  \n"
        f"Machine: {machine_text}\n"
    )


def bullets(lines: Sequence[str]) -> str:
    """A markdown list, one item per line."""
    return "".join(f"- {line}\n" for line in lines)


def md_table(head: list[str], rows: list[list[str]], *, left: int = 1) -> str:
    """A markdown table; the first `left` columns are left-aligned, the others right-aligned."""
    align = ["---"] * left + ["---:"] * (len(head) - left)
    lines = [head, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines) + "\n"
