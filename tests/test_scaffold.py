"""`hygge init`, `hygge new` and `hygge upgrade`, through the real command in tmp_path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from conftest import BIN, build_project, made_once, run_hygge

from hygge import scaffold
from hygge.connectors.base import Capabilities, Connector, ConnectorSettings
from hygge.errors import UsageError

SHIPPED = Path(scaffold.__file__).parent / "templates"
REPO_ROOT = Path(scaffold.__file__).resolve().parent.parent
HYGGE = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "hygge.cli"]  # as conftest.run_hygge runs it


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def init(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Path:
    done = run_hygge("init", "shop_loads", "--defaults", *args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return tmp_path / "shop_loads"


@pytest.fixture(scope="module")
def template_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project from the shipped template, made in-process once a run, for tests to read: `made` copies it."""

    def make(folder: Path) -> None:
        scaffold.init_project(folder / "shop_loads", scaffold.InitAnswers("shop_loads"))

    folder, _ = made_once(tmp_path_factory, "template_project", make)
    return folder / "shop_loads"


@pytest.fixture
def made(template_project: Path, tmp_path: Path) -> Path:
    """A project of its own from the shipped template, where `hygge init` itself is not under test."""
    return Path(shutil.copytree(template_project, tmp_path / "shop_loads", symlinks=True))


def test_init_with_defaults_runs_and_checks_at_once(tmp_path: Path) -> None:
    root = init(tmp_path)

    for rel in ("hygge.yml", "homes/drops.yml", "stores/lake.yml", "flows/orders.yml", "README.md", ".env.example"):
        assert (root / rel).is_file(), rel
    assert {".env", ".hygge/"} <= set((root / ".gitignore").read_text().splitlines())
    assert (root / "data/drops/orders.csv").is_file()
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text())
    assert answers["_commit"] == str(max(scaffold.project_versions(SHIPPED)))
    assert answers["_src_path"] == ".hygge/template"
    assert answers["project_name"] == "shop_loads"
    assert (answers["home_type"], answers["store_type"]) == ("csv", "parquet")
    assert not (root / ".hygge").exists()  # the template repository is gone again

    checked = run_hygge("check", cwd=root)
    assert checked.returncode == 0, checked.stderr
    assert "ok: 1 homes, 1 stores, 1 flows" in checked.stdout
    ran = run_hygge("run", "--all", cwd=root)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "12 rows" in ran.stdout
    assert (root / "data/lake/orders.parquet").is_file()


def test_init_without_a_terminal_asks_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYGGE_")}
    done = subprocess.run(
        [*HYGGE, "init", "quiet-loads"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Project name" not in done.stdout
    hygge_yml = yaml.safe_load((tmp_path / "quiet-loads/hygge.yml").read_text())
    assert hygge_yml["name"] == "quiet_loads"  # from the folder's name


def test_interactive_init_asks_and_explains_a_wrong_answer(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYGGE_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    child = pexpect.spawn(
        HYGGE[0], [*HYGGE[1:], "init", "shop"], cwd=str(tmp_path), env=env, encoding="utf-8", timeout=60
    )
    try:
        child.expect_exact("Project name [shop]:")
        child.sendline("shop_loads")
        child.expect_exact("Default home type")
        child.sendline("parqet")
        child.expect_exact("Did you mean 'parquet'?")
        child.expect_exact("Default home type")
        child.sendline("ndjson")
        child.expect_exact("Default store type")
        child.sendline("")  # the default: parquet
        child.expect_exact("Created project shop_loads")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0

    root = tmp_path / "shop"
    assert yaml.safe_load((root / "homes/drops.yml").read_text()) == {"type": "ndjson", "path": "data/drops"}
    assert yaml.safe_load((root / "stores/lake.yml").read_text())["type"] == "parquet"
    assert yaml.safe_load((root / "hygge.yml").read_text())["name"] == "shop_loads"
    ran = run_hygge("run", "--all", cwd=root)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path, template_project: Path) -> None:
    build_project(tmp_path / "shop_loads", {"notes.txt": "mine"})

    refused = run_hygge("init", "shop_loads", "--defaults", cwd=tmp_path)
    assert refused.returncode == 2
    assert "is not empty" in refused.stderr and "--force" in refused.stderr
    assert sorted(p.name for p in (tmp_path / "shop_loads").iterdir()) == ["notes.txt"]

    # --force writes the project beside the folder's own files, and names each file it replaced whose content was
    # not the template's: here flows/orders.yml, edited, and not hygge.yml, which holds the template's text.
    shutil.copy2(template_project / "hygge.yml", tmp_path / "shop_loads/hygge.yml")
    build_project(tmp_path / "shop_loads", {"flows/orders.yml": "# mine\n"})
    forced = run_hygge("init", "shop_loads", "--defaults", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    root = tmp_path / "shop_loads"
    assert (root / "notes.txt").read_text() == "mine"
    assert (root / "homes/drops.yml").is_file() and (root / "flows/orders.yml").read_text() != "# mine\n"
    assert "flows/orders.yml  (replaced: it held other content)" in forced.stdout
    assert "hygge.yml  (replaced" not in forced.stdout and "  hygge.yml" in forced.stdout
    assert "--force replaced 1 file(s) that held other content" in " ".join(forced.stdout.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Other names that are no identifiers take the same path: test_a_project_name_that_is_no_identifier...
        (["shop", "--defaults", "--name", "9lives"], "project name '9lives' is not a valid identifier"),
        (["shop", "--defaults", "--home-type", "parqet"], "unknown connector type 'parqet'. Did you mean 'parquet'?"),
        (["shop", "--defaults", "--store-type", "nosuch"], "unknown connector type 'nosuch'"),
    ],
)
def test_init_with_a_bad_answer_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_hygge("init", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["9lives", "shop loads"])
def test_a_project_name_that_is_no_identifier_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match=f"project name '{name}' is not a valid identifier"):
        scaffold.check_project_name(name)


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("ünï", "uni"),
        ("ünï2", "uni2"),
        ("Smørrebrød & Øl", "Smorrebrod_Ol"),
        ("straße", "strasse"),
        ("my proj", "my_proj"),
        ("my - proj", "my_proj"),
        ("keep__this", "keep__this"),
        ("1abc", "project_1abc"),
        ("1ünï", "project_1uni"),
        ("_2024 sales", "project_2024_sales"),
        ("数据", "my_project"),
    ],
)
def test_the_default_project_name_is_the_folders_name_as_an_identifier(folder: str, name: str) -> None:
    assert scaffold.default_project_name(Path(folder)) == name
    scaffold.check_project_name(name)  # the default always passes its own check (it is the prompt's default)


# Slow: a twin of test_init_without_a_terminal_asks_nothing, the same path that names a project after its folder
# when nothing is asked (--defaults or no terminal); the rules are checked one by one in-process above.
@pytest.mark.slow
def test_init_names_the_project_after_any_folder(tmp_path: Path) -> None:
    # One folder for both rules (letters as ASCII, a prefix before a digit) that the cases above check one by one.
    folder, name = "1ünï", "project_1uni"
    done = run_hygge("init", folder, "--defaults", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Created project {name} " in done.stdout
    assert yaml.safe_load((tmp_path / folder / "hygge.yml").read_text())["name"] == name


def test_init_leaves_folder_and_file_modes_as_mkdir_and_open_make_them(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    existing = tmp_path / "existing"
    existing.mkdir()
    existing.chmod(0o751)
    (existing / "notes.txt").write_text("mine")

    root = scaffold.init_project(existing, scaffold.InitAnswers("shop_loads"), force=True).root
    new = scaffold.init_project(tmp_path / "new" / "shop_loads", scaffold.InitAnswers("shop_loads")).root

    assert existing.stat().st_mode & 0o7777 == 0o751  # kept, not the temporary folder's 0700
    for made_root in (root, new.parent, new):
        assert made_root == existing or made_root.stat().st_mode & 0o7777 == 0o777 & ~umask
        for path in made_root.rglob("*"):
            expected = (0o777 if path.is_dir() else 0o666) & ~umask
            assert path == existing / "notes.txt" or path.stat().st_mode & 0o7777 == expected, path


def test_the_template_validates_answers_itself(tmp_path: Path) -> None:
    """copier's validators in copier.yml back hygge's own checks (and guard copier used directly)."""
    import copier

    latest = scaffold.project_versions(SHIPPED)
    with pytest.raises(ValueError, match="project_name"):
        copier.run_copy(str(latest[max(latest)]), tmp_path / "p", data={"project_name": "9lives"}, defaults=True)
    assert not (tmp_path / "p").exists()


def project_combinations() -> list[tuple[str, str]]:
    """Each offered type as a home and as a store at least once, and one type as both: each home with the next
    store. (A second such round, each store with the next home, ran every type's read and write once more; the
    slow suite runs every pair.)"""
    homes, stores = scaffold.offered_types("home"), scaffold.offered_types("store")
    pairs = {(home, stores[(i + 1) % len(stores)]) for i, home in enumerate(homes)}
    assert {home for home, _ in pairs} == set(homes) and {store for _, store in pairs} == set(stores)
    pairs.add(("parquet", "parquet"))
    return sorted(pairs)


def every_combination() -> list[tuple[str, str]]:
    return [(h, s) for h in scaffold.offered_types("home") for s in scaffold.offered_types("store")]


def init_and_run(tmp_path: Path, home_type: str, store_type: str) -> None:
    from hygge.project import load_project
    from hygge.resolver import resolve
    from hygge.runner import run

    answers = scaffold.InitAnswers("shop_loads", home_type=home_type, store_type=store_type)
    root = scaffold.init_project(tmp_path / "shop_loads", answers).root
    plan = resolve(load_project(root))
    result = run(plan, plan.select([]))
    assert result.exit_code == 0, [(o.name, o.status, o.error) for o in result.outcomes]
    assert [o.rows for o in result.outcomes] == [12]


@pytest.mark.parametrize(("home_type", "store_type"), project_combinations())
def test_the_sample_runs_for_offered_types(tmp_path: Path, home_type: str, store_type: str) -> None:
    init_and_run(tmp_path, home_type, store_type)


@pytest.mark.slow
@pytest.mark.parametrize(("home_type", "store_type"), every_combination())
def test_the_sample_runs_for_every_pair_of_offered_types(tmp_path: Path, home_type: str, store_type: str) -> None:
    init_and_run(tmp_path, home_type, store_type)


def test_new_home_store_and_flow_are_wired_by_convention(made: Path) -> None:
    root = made

    home = run_hygge("new", "home", "events", "--type", "ndjson", cwd=root)
    assert home.returncode == 0, home.stderr
    assert "Wrote homes/events.yml" in home.stdout
    assert yaml.safe_load((root / "homes/events.yml").read_text()) == {"type": "ndjson", "path": "data/events"}
    store = run_hygge("new", "store", "exports", "--type", "csv", cwd=root)
    assert store.returncode == 0, store.stderr
    exports = (root / "stores/exports.yml").read_text()
    assert yaml.safe_load(exports) == {"type": "csv", "path": "data/exports"}
    assert '# separator: ","' in exports  # the connector's other settings, for the user to find

    flow = run_hygge("new", "flow", "clicks", "--home", "events", "--store", "exports", cwd=root)
    assert flow.returncode == 0, flow.stderr
    assert yaml.safe_load((root / "flows/clicks.yml").read_text()) == {"home": "events", "store": "exports"}
    plain = run_hygge("new", "flow", "customers", cwd=root)
    assert plain.returncode == 0, plain.stderr
    assert yaml.safe_load((root / "flows/customers.yml").read_text()) is None  # all by convention
    merged = run_hygge("new", "flow", "returns", "--mode", "merge", "--key", "order_id", cwd=root)
    assert merged.returncode == 0, merged.stderr

    listed = run_hygge("ls", "--json", cwd=root)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"orders", "clicks", "customers", "returns"}
    assert (rows["clicks"]["home"], rows["clicks"]["store"]) == ("events", "exports")
    assert (rows["customers"]["home"], rows["customers"]["store"]) == ("drops", "lake")
    assert (rows["returns"]["mode"], rows["returns"]["key"]) == ("merge", ["order_id"])

    build_project(root, {"data/events/clicks.ndjson": '{"id": 1, "page": "/"}\n{"id": 2, "page": "/tea"}\n'})
    ran = run_hygge("run", "clicks", cwd=root)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (root / "data/exports/clicks.csv").read_text().splitlines() == ["id,page", "1,/", "2,/tea"]


@pytest.mark.slow  # several hygge and git processes; CI runs it with -m slow
def test_new_refuses_what_it_cannot_write(made: Path) -> None:
    root = made

    def refused(*args: str) -> str:
        done = run_hygge("new", *args, cwd=root)
        assert done.returncode == 2, done.stdout
        assert "Traceback" not in done.stderr
        return done.stderr

    assert "unknown connector type 'parqet'. Did you mean 'parquet'?" in refused("home", "x", "--type", "parqet")
    assert "flows/orders.yml already exists" in refused("flow", "orders")
    assert "unknown home 'drop'. Did you mean 'drops'?" in refused("flow", "returns", "--home", "drop")
    assert "unknown store 'lak'. Did you mean 'lake'?" in refused("flow", "returns", "--store", "lak")
    assert "merge needs a key" in refused("flow", "returns", "--mode", "merge")
    assert "cannot name a flow" in refused("flow", "shop.orders")
    assert not (root / "flows/returns.yml").exists()

    build_project(root, {"homes/sub/events.yml": "type: ndjson\npath: data/events\n"})
    assert "homes/sub/events.yml already has the name 'events'" in refused("home", "events", "--type", "csv", "--force")

    forced = run_hygge("new", "flow", "orders", "--store", "lake", "--force", cwd=root)
    assert forced.returncode == 0, forced.stderr
    assert yaml.safe_load((root / "flows/orders.yml").read_text()) == {"store": "lake"}


@pytest.mark.slow  # several hygge and git processes; CI runs it with -m slow
def test_new_flow_that_would_break_the_project_is_not_written(made: Path) -> None:
    root = made
    assert run_hygge("new", "store", "archive", "--type", "parquet", cwd=root).returncode == 0
    # flows/a reads lake:b and writes archive:b; a new flow b reading archive:b into lake:b closes a cycle.
    build_project(root, {"flows/a.yml": "home: lake\nsource: b\nstore: archive\ntarget: b\n"})

    done = run_hygge("new", "flow", "b", "--home", "archive", "--store", "lake", cwd=root)
    assert done.returncode == 2
    assert "cycle" in done.stderr.lower()
    assert not (root / "flows/b.yml").exists()


class MemoSettings(ConnectorSettings):
    path: str
    shelf: int = 3


class MemoConnector(Connector):
    """A connector type that exists only in this test: `hygge new` learns it from template_settings alone."""

    type_name = "memo"
    settings_model = MemoSettings
    capabilities = Capabilities(home=True, store=False)
    template_settings: ClassVar[dict[str, Any]] = {"path": "memos/{name}.txt", "token": "${MEMO_TOKEN}"}


@pytest.fixture
def memo_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_names, real_get = scaffold.connector_names, scaffold.get_connector
    monkeypatch.setattr(scaffold, "connector_names", lambda: sorted([*real_names(), "memo"]))
    monkeypatch.setattr(
        scaffold, "get_connector", lambda name, **kw: MemoConnector if name == "memo" else real_get(name)
    )
    yield


@pytest.mark.usefixtures("memo_registered")
def test_a_new_connector_type_gets_hygge_new_from_its_template_settings(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p", {"hygge.yml": "name: p\n", ".env.example": "# variables\n"})

    made = scaffold.new_endpoint("home", "notes", "memo", project=root)

    text = made.path.read_text()
    assert yaml.safe_load(text) == {"type": "memo", "path": "memos/notes.txt", "token": "${MEMO_TOKEN}"}
    assert "# shelf: 3" in text
    assert made.variables == made.env_added == ["MEMO_TOKEN"]
    assert "MEMO_TOKEN=" in (root / ".env.example").read_text().splitlines()
    with pytest.raises(UsageError, match="cannot be a store"):
        scaffold.new_endpoint("store", "notes", "memo", project=root)
    # It needs a variable, so a new project cannot start with it; the error says what to do instead.
    assert "memo" not in scaffold.offered_types("home")
    with pytest.raises(UsageError, match="hygge new home NAME --type memo"):
        scaffold.check_type("home", "memo")


def make_git_project(tmp_path: Path, env: dict[str, str]) -> Path:
    root = init(tmp_path, env=env)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "hygge init")
    return root


def add_template_version(templates: Path, hygge_yml: Callable[[str], str]) -> tuple[int, Path]:
    """What a newer hygge ships: a copy of the newest template version with hygge.yml changed. Returns both."""
    versions = scaffold.project_versions(templates)
    old = max(versions)
    new = templates / "project" / str(old + 1)
    shutil.copytree(versions[old], new)
    template = new / "hygge.yml.jinja"
    template.write_text(hygge_yml(template.read_text()))
    return old, new


@pytest.fixture
def own_templates(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the shipped templates, and the environment that points hygge at it."""
    templates = tmp_path / "templates"
    shutil.copytree(SHIPPED, templates)
    return templates, {scaffold.TEMPLATES_ENV: str(templates)}


@pytest.mark.slow  # several hygge and git processes; CI runs it with -m slow
def test_a_project_made_with_each_shipped_version_upgrades_to_the_newest(tmp_path: Path) -> None:
    newest = max(scaffold.project_versions(SHIPPED))
    for version in sorted(scaffold.project_versions(SHIPPED))[:-1]:
        older = tmp_path / f"templates-{version}"
        shutil.copytree(SHIPPED, older)
        for other in scaffold.project_versions(older):
            if other > version:
                shutil.rmtree(older / "project" / str(other))
        made_in = tmp_path / f"v{version}"
        made_in.mkdir()
        root = make_git_project(made_in, {scaffold.TEMPLATES_ENV: str(older)})
        flow = root / "flows/orders.yml"
        flow.write_text(flow.read_text() + "# the user's edit\n")
        git(root, "commit", "-q", "-am", "an edit")

        done = run_hygge("upgrade", cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Upgraded from template version {version} to {newest}" in done.stdout
        assert "# the user's edit" in flow.read_text()
        assert yaml.safe_load((root / ".copier-answers.yml").read_text())["_commit"] == str(newest)
        assert run_hygge("run", "--all", cwd=root).returncode == 0


@pytest.mark.slow  # several hygge and git processes; CI runs it with -m slow
def test_upgrade_keeps_the_users_edits_and_brings_the_templates_changes(
    tmp_path: Path, own_templates: tuple[Path, dict[str, str]]
) -> None:
    templates, env = own_templates
    root = make_git_project(tmp_path, env)
    hygge_yml = root / "hygge.yml"
    hygge_yml.write_text(hygge_yml.read_text().replace("threads: 4 ", "threads: 8 "))
    (root / "README.md").unlink()
    git(root, "commit", "-q", "-am", "more threads, our own README elsewhere")

    nothing = run_hygge("upgrade", cwd=root, env=env)
    assert nothing.returncode == 0, nothing.stderr
    assert "nothing to upgrade" in nothing.stdout

    old, new = add_template_version(templates, lambda text: "# Made with a newer hygge.\n" + text)
    (new / "CONTRIBUTING.md.jinja").write_text("# Working on {{ project_name }}\n")

    done = run_hygge("upgrade", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Upgraded from template version {old} to {old + 1}" in done.stdout
    text = hygge_yml.read_text()
    assert text.startswith("# Made with a newer hygge.\n")
    assert "threads: 8 " in text
    assert (root / "CONTRIBUTING.md").read_text() == "# Working on shop_loads\n"
    assert not (root / "README.md").exists()  # deleted by the user, so not brought back
    assert yaml.safe_load((root / ".copier-answers.yml").read_text())["_commit"] == str(old + 1)
    assert not (root / ".hygge" / "template").exists()
    changed = {line[3:] for line in git(root, "status", "--porcelain").splitlines()}
    assert changed == {".copier-answers.yml", "CONTRIBUTING.md", "hygge.yml"}
    assert run_hygge("check", cwd=root).returncode == 0


def test_upgrade_brings_a_same_size_change_to_files_with_the_same_mtime(
    made: Path, own_templates: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a git clone or a wheel install, template files of two versions can share size and mtime (to the
    second); git's stat cache must not take a changed file for unchanged, or the upgrade silently drops it."""
    templates, env = own_templates
    monkeypatch.setenv(scaffold.TEMPLATES_ENV, env[scaffold.TEMPLATES_ENV])
    root = made
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "hygge init")
    old, _ = add_template_version(templates, lambda text: text.replace("threads: 4 ", "threads: 32"))
    for path in templates.rglob("*"):
        os.utime(path, (1767225600, 1767225600))  # 2026-01-01, every file of every version

    result = scaffold.upgrade_project(root)

    assert (result.from_version, result.to_version) == (old, old + 1)
    assert "threads: 32" in (root / "hygge.yml").read_text()
    assert sorted(result.changed) == [".copier-answers.yml", "hygge.yml"]


@pytest.mark.slow  # several hygge and git processes; CI runs it with -m slow
def test_upgrade_marks_conflicts_and_exits_1(tmp_path: Path, own_templates: tuple[Path, dict[str, str]]) -> None:
    templates, env = own_templates
    root = make_git_project(tmp_path, env)
    hygge_yml = root / "hygge.yml"
    hygge_yml.write_text(hygge_yml.read_text().replace("threads: 4 ", "threads: 8 "))
    git(root, "commit", "-q", "-am", "more threads")
    add_template_version(templates, lambda text: text.replace("threads: 4 ", "threads: 2 "))

    done = run_hygge("upgrade", cwd=root, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "conflict in: hygge.yml" in done.stdout
    text = hygge_yml.read_text()
    assert "<<<<<<< before updating" in text and "threads: 8 " in text and "threads: 2 " in text


@pytest.mark.slow  # several hygge and git processes; CI runs it with -m slow
def test_upgrade_needs_a_clean_git_project(tmp_path: Path, made: Path) -> None:
    root = made
    no_git = run_hygge("upgrade", cwd=root)
    # Already current needs no git; pretend the project is older to reach the git checks.
    answers = root / ".copier-answers.yml"
    assert no_git.returncode == 0
    pretended = re.sub(r"_commit: '\d+'", "_commit: '0'", answers.read_text())
    assert "_commit: '0'" in pretended
    answers.write_text(pretended)
    templates = tmp_path / "templates"
    shutil.copytree(SHIPPED, templates)
    shutil.copytree(templates / "project" / "1", templates / "project" / "0")
    env = {scaffold.TEMPLATES_ENV: str(templates)}

    refused = run_hygge("upgrade", cwd=root, env=env)
    assert refused.returncode == 2
    assert "needs the project in git" in refused.stderr and "git init" in refused.stderr

    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    (root / "hygge.yml").write_text((root / "hygge.yml").read_text() + "# unsaved\n")
    dirty = run_hygge("upgrade", cwd=root, env=env)
    assert dirty.returncode == 2
    assert "uncommitted changes" in dirty.stderr

    missing = run_hygge("upgrade", cwd=root, env={scaffold.TEMPLATES_ENV: str(tmp_path / "nowhere")})
    assert missing.returncode == 2
    assert "holds no project template" in missing.stderr


def test_upgrade_refuses_a_project_hygge_init_did_not_make(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p", {"hygge.yml": "name: p\n"})
    done = run_hygge("upgrade", cwd=root)
    assert done.returncode == 2
    assert "was not made by `hygge init`" in done.stderr


@pytest.mark.slow
def test_templates_ship_in_the_wheel(tmp_path: Path) -> None:
    """Build a wheel, install it (not editable) into a fresh venv, then init and run a project with it."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "hygge", source / "hygge", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(dist), str(source)], check=True, timeout=300)
    (wheel,) = dist.glob("hygge-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # Dependencies come from the test's own environment (no download); hygge itself only from the wheel.
    site = Path(
        subprocess.run(
            [str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [*pip, "--python", str(venv / "bin/python"), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import hygge; print(hygge.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert Path(where).is_relative_to(site), where

    env = {k: v for k, v in os.environ.items() if not k.startswith("HYGGE_")}
    hygge_bin = str(venv / "bin/hygge")
    made = subprocess.run(
        [hygge_bin, "init", "shop", "--defaults"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "shop/.gitignore").is_file() and (tmp_path / "shop/.env.example").is_file()  # dotfiles too
    ran = subprocess.run([hygge_bin, "run", "--all"], cwd=tmp_path / "shop", env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (tmp_path / "shop/data/lake/orders.parquet").is_file()
