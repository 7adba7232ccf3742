"""A release is reproducible: the lock files pin, with hashes, every package the project names, the
tests run on exactly those versions, CI and the README install from them, and the Dockerfile builds
an image from the lock that runs unprivileged and reports readiness. No Docker daemon is needed:
the Dockerfile is read, not built."""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: tuple[str, ...]


def read_lock(name: str) -> dict[str, Pin]:
    """A pip-compile lock: `name==version \\` then `--hash=sha256:…` lines, comments between."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    pins: dict[str, Pin] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split()
        assert "==" in spec, f"{name}: {spec} is not pinned to one version"
        package, version = spec.split("==")
        hashes = tuple(o.removeprefix("--hash=") for o in options if o.startswith("--hash=sha256:"))
        pins[canonicalize_name(package)] = Pin(version, hashes)
    return pins


RUNTIME = read_lock("requirements.lock")
TESTED = read_lock("requirements-test.lock")


def named(requirements: list[str]) -> list[Requirement]:
    return [Requirement(r) for r in requirements]


def test_every_locked_package_is_one_version_with_hashes() -> None:
    for lock in (RUNTIME, TESTED):
        assert lock
        for package, pin in lock.items():
            assert pin.hashes, f"{package} has no hash"
            assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), package


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        pytest.param(RUNTIME, named(PYPROJECT["project"]["dependencies"]), id="runtime"),
        pytest.param(
            TESTED,
            named(
                PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
            ),
            id="test",
        ),
    ],
)
def test_the_locks_pin_every_dependency_within_its_range(
    lock: dict[str, Pin], requirements: list[Requirement]
) -> None:
    for requirement in requirements:
        package = canonicalize_name(requirement.name)
        assert package in lock, f"{requirement} is not in the lock"
        assert requirement.specifier.contains(lock[package].version, prereleases=True), (
            f"the lock pins {package}=={lock[package].version}, outside {requirement}"
        )


def test_the_release_runs_on_the_versions_the_tests_ran_on() -> None:
    """The test lock is the runtime lock plus the test tools, never other versions of a package."""
    for package, pin in RUNTIME.items():
        assert package in TESTED, f"{package} is released but not tested"
        assert TESTED[package].version == pin.version, (
            f"{package}: released {pin.version}, tested {TESTED[package].version}"
        )


def test_this_suite_runs_on_the_locked_versions() -> None:
    """What CI installs is what the suite imports: an environment that drifted from the lock
    (a hand-installed upgrade, a lock not regenerated after a change) fails here, not in a release."""
    drifted = []
    for package, pin in TESTED.items():
        try:
            installed = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            drifted.append(f"{package}: locked {pin.version}, not installed")
            continue
        if canonicalize_name(installed) != canonicalize_name(pin.version) and installed != pin.version:
            drifted.append(f"{package}: locked {pin.version}, installed {installed}")
    assert not drifted, "reinstall with `pip install -r requirements-test.lock`: " + "; ".join(drifted)


def test_ci_and_the_readme_install_from_the_lock() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    first, second = re.search(r"```sh\n(.+)\n(.+)\n```", readme).groups()  # the two set-up commands
    assert "pip install -r requirements.lock && .venv/bin/pip install --no-deps -e ." in first
    assert first.endswith("qilijia serve --demo")
    assert second.endswith(".venv/bin/python -m pytest")
    assert second.replace("pip install ", "pip install -q ") in ci  # CI runs the README's test command
    assert "-r requirements-test.lock" in second


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arguments for k, arguments in self.instructions if k == keyword]


def dockerfile_stages() -> list[Stage]:
    """The Dockerfile's stages, each instruction joined across its line continuations."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append(Stage(base=arguments.split()[0]))
        else:
            assert stages, f"{keyword} before any FROM"
            stages[-1].instructions.append((keyword, " ".join(arguments.split())))
    return stages


def test_the_image_installs_the_lock_and_nothing_else() -> None:
    build, *_ = dockerfile_stages()
    runs = " && ".join(build.all("RUN"))
    assert "--require-hashes -r requirements.lock" in runs
    project = [r for r in runs.split("&&") if re.search(r"pip install .* \.$", r.strip())]
    assert project and all("--no-deps" in r for r in project), (
        "the project is installed without resolving anything"
    )
    copied = [a.split()[:-1] for a in build.all("COPY")]
    assert ["requirements.lock"] in copied
    for sources in copied:  # a source that does not exist would fail the build
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
    for package in ("app", "auth", "models", "resolvers", "schema", "migrations"):
        assert [package] in copied, f"{package}/ is not in the image"


def test_the_image_runs_unprivileged_and_reports_readiness() -> None:
    final = dockerfile_stages()[-1]
    keywords = [k for k, _ in final.instructions]
    users = final.all("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the service must not run as root"
    assert keywords.index("USER") < keywords.index("CMD")
    (health,) = final.all("HEALTHCHECK")
    assert "/readyz" in health
    command = json.loads(final.all("CMD")[-1])  # exec form: signals reach serve, not a shell
    assert command[:2] == ["qilijia", "serve"]
    environment = " ".join(final.all("ENV"))
    assert "QILIJIA_ENV=prod" in environment  # prod: no embedded database, no weak secret, no dev login
