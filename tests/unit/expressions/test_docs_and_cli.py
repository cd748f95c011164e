"""The committed docs/expressions.md is the generated one; the ``hospes expression`` commands behave."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hospes.cli.main import app
from hospes.expressions import FUNCTIONS
from hospes.expressions.docs import render_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "expressions.md"
runner = CliRunner()


def test_committed_docs_match_the_generated_page() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/expressions.md is stale: run `hospes expression docs > docs/expressions.md`"
    )


def test_docs_list_every_function_with_signature_and_example() -> None:
    page = render_markdown()
    for name, spec in FUNCTIONS.items():
        assert f"### {name}\n" in page
        assert f"`{spec.signature}`" in page
        assert f"- `{spec.examples[0].expression}`" in page


def test_cli_prints_json_result() -> None:
    result = runner.invoke(
        app,
        [
            "expression",
            "test",
            'Join(" ", [givenName], [surname])',
            "--object",
            '{"givenName": "Ana", "surname": "Ló"}',
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == "Ana Ló"
    result = runner.invoke(app, ["expression", "test", 'Split([a], ",")', "--object", '{"a": "x,y"}'])
    assert json.loads(result.stdout) == ["x", "y"]


def test_cli_no_flow() -> None:
    result = runner.invoke(app, ["expression", "test", "IgnoreFlowIfNullOrEmpty([department])"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "no flow"


def test_cli_error_with_caret() -> None:
    result = runner.invoke(app, ["expression", "test", "Mid([x], 1 3)"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "error: unexpected '3' at position 11"
    assert lines[1:3] == ["Mid([x], 1 3)", "           ^"]
    assert lines[3].startswith("expected: ")
    result = runner.invoke(app, ["expression", "test", "CDate([d])", "--object", '{"d": "never"}'])
    assert result.exit_code == 1
    assert "not a recognised date" in result.stderr


def test_cli_rejects_bad_object() -> None:
    result = runner.invoke(app, ["expression", "test", "[a]", "--object", "[1]"])
    assert result.exit_code == 2
    assert "JSON object" in result.stderr


def test_cli_select_unique_value_with_taken_values() -> None:
    result = runner.invoke(app, ["expression", "test", 'SelectUniqueValue("a", "b")', "--taken", "a"])
    assert json.loads(result.stdout) == "b"
    result = runner.invoke(app, ["expression", "test", 'SelectUniqueValue("a", "b")', "--taken", "a", "--taken", "b"])
    assert result.exit_code == 1
    assert "already taken" in result.stderr


def test_cli_scope() -> None:
    scope = {
        "groups": [
            {
                "name": "sales",
                "clauses": [
                    {
                        "operatorName": "EQUALS",
                        "sourceOperandName": "department",
                        "targetOperand": {"values": ["Sales"]},
                    }
                ],
            }
        ]
    }
    result = runner.invoke(
        app, ["expression", "scope", "--filter", json.dumps(scope), "--object", '{"department": "Sales"}']
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["true   sales.department EQUALS 'Sales'", "in scope"]
    result = runner.invoke(app, ["expression", "scope", "--filter", json.dumps(scope)])
    assert result.stdout.splitlines()[-1] == "out of scope"
    bad = {"groups": [{"clauses": [{"operatorName": "LIKE", "sourceOperandName": "a"}]}]}
    result = runner.invoke(app, ["expression", "scope", "--filter", json.dumps(bad)])
    assert result.exit_code == 1


def test_cli_docs_prints_the_page() -> None:
    result = runner.invoke(app, ["expression", "docs"])
    assert result.exit_code == 0
    assert result.stdout == render_markdown()
