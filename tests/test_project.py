"""Loading a project: finding it, files, variables, targets, and errors that point at the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hygge.errors import HyggeError, ProjectError, UsageError
from hygge.project import find_root, load_project
from hygge.resolver import resolve

Make = Callable[..., Path]


def test_finds_hygge_yml_upward(project: Make) -> None:
    root = project()
    deep = root / "flows" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == root.resolve()


def test_missing_project_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no hygge.yml found"):
        find_root(tmp_path)
    with pytest.raises(UsageError, match="has no hygge.yml"):
        find_root(None, tmp_path)


def test_loads_yml_yaml_and_subfolders(project: Make) -> None:
    root = project(
        {
            "flows/orders.yml": "source: orders\n",
            "flows/sales/customers.yaml": "{}\n",
            "homes/archive/old.yaml": "type: csv\npath: data/old\n",
        }
    )
    p = load_project(root)
    assert set(p.flows) == {"orders", "customers"}
    assert set(p.homes) == {"drops", "old"}


def test_two_files_with_one_name_is_an_error_naming_both(project: Make) -> None:
    root = project({"flows/orders.yml": "{}\n", "flows/sub/orders.yaml": "{}\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    assert "flows/orders.yml" in str(info.value) and "flows/sub/orders.yaml" in str(info.value)


def test_unknown_key_names_file_line_and_suggests(project: Make) -> None:
    root = project({"stores/lake.yml": "type: parquet\npth: data/lake\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    text = str(info.value)
    assert text.startswith("stores/lake.yml:2:1  parquet store: unknown key 'pth'.")
    assert "Did you mean 'path'?" in text


def test_unknown_flow_key_suggests(project: Make) -> None:
    root = project({"flows/orders.yml": "home: drops\nmoed: append\n"})
    with pytest.raises(ProjectError) as info:
        resolve(load_project(root))
    assert str(info.value).startswith("flows/orders.yml:2:1  flow orders: unknown key 'moed'. Did you mean 'mode'?")


def test_bad_mode_value_suggests(project: Make) -> None:
    root = project({"flows/orders.yml": "mode: apend\n"})
    with pytest.raises(ProjectError) as info:
        resolve(load_project(root))
    assert "flows/orders.yml:1:7" in str(info.value)
    assert "Did you mean 'append'?" in str(info.value)


def test_a_value_of_no_allowed_type_is_one_error(project: Make) -> None:
    # vars take text, numbers or booleans: a list fits none of them, and that is one mistake, not four.
    root = project({"hygge.yml": "name: p\ntargets:\n  dev:\n    vars:\n      A: [1]\n", "flows/orders.yml": "{}\n"})
    with pytest.raises(ProjectError) as info:
        resolve(load_project(root))
    assert str(info.value) == (
        "hygge.yml:5:10  targets.dev.vars.A: input should be a valid string or a valid integer or a valid number "
        "or a valid boolean (got [1])."
    )


def test_an_empty_source_is_an_error_not_the_default(project: Make) -> None:
    root = project({"flows/orders.yml": 'source: ""\n'})
    with pytest.raises(ProjectError) as info:
        resolve(load_project(root))
    assert str(info.value).startswith("flows/orders.yml:1:9  flow orders: source: must not be empty")


def test_a_kind_that_is_a_file_is_an_error(project: Make) -> None:
    root = project({"flows": "orders: {}\n"})
    with pytest.raises(ProjectError, match=r"^flows  flows is a file, not a folder, so it holds no flows"):
        load_project(root)


def test_unknown_connector_type_suggests(project: Make) -> None:
    root = project({"stores/lake.yml": "type: parquett\npath: x\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    assert str(info.value).startswith("stores/lake.yml:1:7  unknown connector type 'parquett'. Did you mean 'parquet'?")


def test_missing_type(project: Make) -> None:
    root = project({"stores/lake.yml": "path: x\n"})
    with pytest.raises(ProjectError, match=r"stores/lake.yml:1:1  store 'lake' has no connector type"):
        load_project(root)


def test_yaml_syntax_error_has_position(project: Make) -> None:
    root = project({"flows/orders.yml": "home: drops\n  store: [lake\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    assert str(info.value).startswith("flows/orders.yml:2:")
    assert "YAML syntax error" in str(info.value)


def test_duplicate_key_is_an_error(project: Make) -> None:
    root = project({"flows/orders.yml": "home: drops\nhome: lake\n"})
    with pytest.raises(ProjectError, match=r"flows/orders.yml:2:1  the key 'home' appears twice"):
        load_project(root)


def test_missing_variable_names_file_line_and_variable(project: Make) -> None:
    root = project({"stores/lake.yml": "type: parquet\npath: ${LAKE_ROOT}\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root, environ={})
    assert str(info.value).startswith("stores/lake.yml:2:7  ${LAKE_ROOT} is not set (no default).")


def test_variable_default(project: Make) -> None:
    root = project({"stores/lake.yml": "type: parquet\npath: ${LAKE_ROOT:-data/fallback}\n"})
    p = load_project(root, environ={})
    assert p.stores["lake"].settings.path == "data/fallback"  # type: ignore[attr-defined]


def test_dollar_escape(project: Make) -> None:
    root = project({"flows/orders.yml": "description: costs $$5 ${X:-}\n"})
    p = load_project(root, environ={})
    assert p.flows["orders"].doc.data["description"] == "costs $5 "


@pytest.mark.parametrize(
    ("cli", "env", "dotenv", "expected"),
    [
        ({"LAKE": "cli"}, {"LAKE": "env"}, "LAKE=dotenv\n", "cli"),
        ({}, {"LAKE": "env"}, "LAKE=dotenv\n", "env"),
        ({}, {}, "LAKE=dotenv\n", "dotenv"),
        ({}, {}, "", "target"),
    ],
)
def test_variable_precedence(
    project: Make, cli: dict[str, str], env: dict[str, str], dotenv: str, expected: str
) -> None:
    root = project(
        {
            "hygge.yml": """
                name: t
                defaults: {home: drops, store: lake}
                targets:
                  dev: {vars: {LAKE: target}}
                default_target: dev
            """,
            "stores/lake.yml": "type: parquet\npath: ${LAKE}\n",
            ".env": f"# comment\n{dotenv}",
        }
    )
    p = load_project(root, cli_vars=cli, environ=env)
    assert p.stores["lake"].settings.path == expected  # type: ignore[attr-defined]


def test_target_choice_from_flag_env_and_default(project: Make) -> None:
    root = project(
        {
            "hygge.yml": """
                name: t
                targets:
                  dev: {vars: {LAKE: d}}
                  prod: {vars: {LAKE: p}}
                default_target: dev
            """,
            "stores/lake.yml": "type: parquet\npath: ${LAKE}\n",
        }
    )
    assert load_project(root, environ={}).target == "dev"
    assert load_project(root, environ={"HYGGE_TARGET": "prod"}).target == "prod"
    p = load_project(root, target="prod", environ={"HYGGE_TARGET": "dev"})
    assert p.target == "prod" and p.stores["lake"].settings.path == "p"  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match=r"^--target  unknown target 'prd'. Did you mean 'prod'\?"):
        load_project(root, target="prd", environ={})
    with pytest.raises(UsageError, match=r"^HYGGE_TARGET  unknown target 'prd'"):  # not --target: none was given
        load_project(root, environ={"HYGGE_TARGET": "prd"})


def test_bad_dotenv_line(project: Make) -> None:
    root = project({".env": "OK=1\nnot a pair\n"})
    with pytest.raises(ProjectError, match=r"\.env:2:1  expected KEY=value"):
        load_project(root, environ={})


def test_secrets_never_in_errors(project: Make) -> None:
    from hygge.redact import redact

    root = project({"stores/lake.yml": "type: parquet\npath: data/lake\n", ".env": "PGPASS=s3cr3t-pw\n"})
    load_project(root, environ={})
    assert redact("postgresql://bob:s3cr3t-pw@host/db") == "postgresql://bob:***@host/db"
    assert redact("password=hunter22 and token: abc123") == "password=*** and token: ***"


def test_all_errors_are_hygge_errors_with_exit_code_2(project: Make) -> None:
    root = project({"flows/orders.yml": "home: nowhere\n"})
    with pytest.raises(HyggeError) as info:
        resolve(load_project(root))
    assert info.value.exit_code == 2


def test_url_redaction_masks_any_password_up_to_the_last_at() -> None:
    from hygge.redact import redact

    assert redact("at postgresql://postgres:1234/S3cretPW@127.0.0.1:5999/test.") == (
        "at postgresql://postgres:***@127.0.0.1:5999/test."
    )
    assert redact("postgresql://bob:S3c?r#e@t@host/db") == "postgresql://bob:***@host/db"
    assert redact("postgresql://bob@host:5432/db") == "postgresql://bob@host:5432/db"


@pytest.mark.parametrize("value", ["*S3cretPW", "!S3cretPW x", "\n  !S3cretPW x"])
def test_yaml_error_in_a_secret_value_does_not_echo_it(project: Make, value: str) -> None:
    root = project({"homes/pg.yml": f"type: postgres\nurl: postgresql://u@h/db\npassword: {value}\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    text = str(info.value)
    assert text.startswith("homes/pg.yml:") and "'password'" in text and 'Quote the value: password: "..."' in text
    assert "S3cretPW" not in text


def test_flow_file_named_like_an_entity_is_an_error_naming_both(project: Make) -> None:
    root = project({"flows/shop.yml": "entities: [a, b]\n", "flows/shop.a.yml": "source: orders\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    assert str(info.value).startswith(
        "flows/shop.yml:1:12  two flows are named 'shop.a': flows/shop.a.yml:1:1 and the entity 'a' of flows/shop.yml."
    )


def test_entity_listed_twice_is_an_error(project: Make) -> None:
    root = project({"flows/shop.yml": "entities: [a, b, a]\n"})
    with pytest.raises(ProjectError, match=r"^flows/shop.yml:1:18  flow shop lists the entity 'a' twice."):
        load_project(root)


def test_unknown_key_in_entity_overrides_and_targets_suggests(project: Make) -> None:
    root = project({"flows/shop.yml": "entities:\n  orders: {mdoe: merge}\n"})
    with pytest.raises(ProjectError) as info:
        resolve(load_project(root))
    assert str(info.value).startswith("flows/shop.yml:2:12  flow shop: unknown key 'mdoe'. Did you mean 'mode'?")
    assert "\n" not in str(info.value) and "Allowed keys: home, store" in str(info.value)
    root = project({"hygge.yml": "name: t\ntargets:\n  dev: {vars: {A: b}, varz: 1}\n"})
    with pytest.raises(ProjectError, match=r"^hygge.yml:3:23  unknown key 'varz'. Did you mean 'vars'\?"):
        load_project(root)


def test_unclosed_variable_is_an_error(project: Make) -> None:
    root = project({"homes/drops.yml": "type: csv\npath: ${DROPS\n"})
    with pytest.raises(ProjectError, match=r"^homes/drops.yml:2:7  '\$\{DROPS' has no closing '\}'"):
        load_project(root, environ={"DROPS": "data/drops"})


def test_wrong_shape_says_what_is_expected_not_a_class_name(project: Make) -> None:
    root = project({"flows/orders.yml": "incremental: true\n"})
    with pytest.raises(ProjectError) as info:
        resolve(load_project(root))
    assert str(info.value) == (
        "flows/orders.yml:1:14  flow orders: incremental should be a mapping such as `incremental: {cursor: ...}` "
        "(got True). Allowed keys: cursor, initial, lag, nulls."
    )


@pytest.mark.parametrize(
    "files",
    [
        {"flows/orders.yml": "batch_size: 99999999999999999999999\n"},
        {
            "hygge.yml": "name: t\ndefaults: {home: drops, store: lake, batch_size: 10000001}\n",
            "flows/orders.yml": "{}",
        },
    ],
)
def test_batch_size_is_bounded(project: Make, files: dict[str, str]) -> None:
    root = project(files)
    with pytest.raises(ProjectError, match="batch_size: input should be less than or equal to 10000000"):
        resolve(load_project(root))


@pytest.mark.parametrize("value", ["true", "'4'", "0", "257"])
def test_threads_is_a_number_from_1_to_256(project: Make, value: str) -> None:
    root = project({"hygge.yml": f"name: t\nthreads: {value}\n"})
    with pytest.raises(ProjectError, match=r"hygge.yml:2:10  threads: input should be"):
        load_project(root)
