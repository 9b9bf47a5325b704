"""Map the repository's top-level folders to the ``raysweep.*`` import packages.

Everything else about the distribution lives in ``pyproject.toml``. The folders are named by the
project layout (``samplers/``, ``scheduling/``, ...) but installing them as top-level packages
would collide with PyPI distributions and users' own modules, so each one becomes
``raysweep.<folder>`` (see ARCHITECTURE.md, "Layout and import names").
"""

from setuptools import find_packages, setup

FOLDERS = ("orchestrator", "scheduling", "samplers", "k8s")


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder in FOLDERS:
        root = f"raysweep.{folder}"
        packages.append(root)
        package_dir[root] = folder
        for sub in find_packages(where=folder):
            packages.append(f"{root}.{sub}")
            package_dir[f"{root}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


_PACKAGES, _PACKAGE_DIR = _packages()

setup(
    packages=_PACKAGES, package_dir=_PACKAGE_DIR, package_data={p: ["py.typed"] for p in _PACKAGES}
)
