"""The import direction of our packages: app → schema → resolvers → auth → models.

Every `import` and `from … import` of every .py file counts, wherever it sits (module level, inside
a function, under `if TYPE_CHECKING:`), and relative imports are resolved to their package.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("app", "schema", "resolvers", "auth", "models")

#: the packages of ours each package may import (itself included)
ALLOWED = {
    "models": {"models"},
    "auth": {"auth", "models"},
    "resolvers": {"resolvers", "auth", "models"},
    "schema": {"schema", "resolvers", "auth", "models"},
    "app": set(OURS),
}


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports_in(source: str, relpath: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, the text of the file at `relpath`
    (relative to the repository root, which relative imports are resolved against)."""
    package = list(relpath.with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=str(relpath))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                found.append((node.lineno, ".".join([*base, node.module])))
            else:  # `from . import x` imports the submodule x
                found.extend((node.lineno, ".".join([*base, alias.name])) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or ""))
    return sorted(found)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    return imports_in(path.read_text(encoding="utf-8"), path.relative_to(ROOT))


def violations(package: str) -> list[str]:
    out = []
    for path in package_files(package):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if top in OURS and top not in ALLOWED[package]:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("package", OURS)
def test_package_has_python_files(package: str) -> None:
    assert (ROOT / package / "__init__.py").is_file()
    assert len(package_files(package)) >= 2


def test_models_import_no_other_package_of_ours() -> None:
    assert violations("models") == [], "models must not import app, schema, resolvers or auth"


def test_auth_imports_only_models() -> None:
    assert violations("auth") == [], "auth may import only models (of our packages)"


def test_resolvers_import_only_auth_and_models() -> None:
    assert violations("resolvers") == [], "resolvers may import auth and models, never schema or app"


def test_schema_never_imports_app() -> None:
    assert violations("schema") == [], "schema must not import app"


#: What of strawberry `resolvers/` may use: its DataLoader, a batching utility that knows nothing of
#: GraphQL types (the GraphQL surface itself — types, fields, `Info` — belongs to `schema/`).
RESOLVERS_MAY_USE = {"strawberry.dataloader"}


def test_resolvers_use_no_graphql_types() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in package_files("resolvers")
        for line, module in imported_modules(path)
        if module.split(".")[0] == "strawberry" and module not in RESOLVERS_MAY_USE
    ]
    assert found == [], "resolvers return rows and plain data; strawberry types live in schema/"


def test_benchmarks_never_import_the_tests() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "bench").glob("*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] == "tests"
    ]
    assert found == [], "benchmarks keep their own fixtures (bench/fixtures.py)"


def test_the_checker_sees_every_kind_of_import() -> None:
    """Imports in functions, under TYPE_CHECKING, aliased and relative ones are all found."""
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import models.enums\n"
        "if TYPE_CHECKING:\n"
        "    from schema import schema\n"
        "def f():\n"
        "    from app.settings import Settings\n"
        "    import resolvers.ids as ids, json\n"
        "from . import tokens, policy\n"
        "from .principal import Principal\n"
        "from ..models import Person\n"
    )
    assert imports_in(source, Path("auth/probe.py")) == [
        (1, "__future__"),
        (2, "typing"),
        (3, "models.enums"),
        (5, "schema"),
        (7, "app.settings"),
        (8, "json"),
        (8, "resolvers.ids"),
        (9, "auth.policy"),
        (9, "auth.tokens"),
        (10, "auth.principal"),
        (11, "models"),
    ]
    assert imports_in("from .. import models\n", Path("auth/sub/__init__.py")) == [(1, "auth.models")]


def test_every_package_import_is_seen() -> None:
    """Guards the checker against silently seeing nothing: known imports of the code are found."""
    seen = {
        (str(path.relative_to(ROOT)), module)
        for package in OURS
        for path in package_files(package)
        for _, module in imported_modules(path)
    }
    assert ("app/cli.py", "schema") in seen  # imported inside a function
    assert ("auth/tokens.py", "models.errors") in seen


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_declares_our_packages_explicitly() -> None:
    packages = _pyproject()["tool"]["setuptools"]["packages"]
    assert isinstance(packages, list), "packages must be an explicit list, not a find directive"
    missing = [p for p in OURS if p not in packages]
    assert missing == [], f"tool.setuptools.packages lacks {missing}"


def test_no_dependency_shadows_our_packages() -> None:
    project = _pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    names = {
        re.split(r"[\s\[<>=!~;@]", r.strip(), maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }
    assert "strawberry-graphql" in names  # the parsing works
    clashing = sorted(names & {"schema", "models", "auth", "resolvers", "app"})
    assert clashing == [], f"dependencies named like our packages: {clashing}"
