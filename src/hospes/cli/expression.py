"""``hospes expression test|scope|docs``: the admin's expression tester and the docs generator."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from hospes.expressions import NO_FLOW, ExpressionError, compile_expression, compile_scope
from hospes.expressions.docs import render_markdown

expression_app = typer.Typer(help="Attribute-mapping expressions and scoping filters.", no_args_is_help=True)


def _load_object(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        typer.echo(f"error: --object is not JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    if not isinstance(value, dict):
        typer.echo("error: --object must be a JSON object", err=True)
        raise typer.Exit(2)
    return value


@expression_app.command("test")
def test(
    expression: Annotated[str, typer.Argument(help="The expression, e.g. 'Join(\" \", [givenName], [surname])'.")],
    obj: Annotated[str | None, typer.Option("--object", help="Source object as JSON.")] = None,
    taken: Annotated[
        list[str] | None,
        typer.Option("--taken", help="A value SelectUniqueValue must treat as already used (repeatable)."),
    ] = None,
) -> None:
    """Evaluate EXPRESSION against --object; print the JSON result or "no flow" (exit 1 on error)."""
    source = _load_object(obj)
    used = set(taken or [])
    try:
        compiled = compile_expression(expression)
        result = compiled.evaluate(source, is_unique=lambda v: v not in used)
    except ExpressionError as exc:
        typer.echo(f"error: {exc}", err=True)
        if exc.position is not None:
            typer.echo(exc.caret(expression), err=True)
        if exc.expected:
            typer.echo(f"expected: {', '.join(exc.expected)}", err=True)
        raise typer.Exit(1) from None
    if result is NO_FLOW:
        typer.echo("no flow")
    else:
        typer.echo(json.dumps(result, ensure_ascii=False))


@expression_app.command("scope")
def scope(
    filter_json: Annotated[str, typer.Option("--filter", help='Graph scoping filter JSON ({"groups": [...]}).')],
    obj: Annotated[str | None, typer.Option("--object", help="Source object as JSON.")] = None,
) -> None:
    """Evaluate a scoping filter against --object; print each clause and "in scope"/"out of scope"."""
    try:
        raw = json.loads(filter_json)
    except json.JSONDecodeError as exc:
        typer.echo(f"error: --filter is not JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        result = compile_scope(raw).evaluate(_load_object(obj))
    except ExpressionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for label, ok in result.details.items():
        typer.echo(f"{'true ' if ok else 'false'}  {label}")
    typer.echo("in scope" if result.in_scope else "out of scope")


@expression_app.command("docs")
def docs() -> None:
    """Print the generated function reference (Markdown) to stdout."""
    sys.stdout.write(render_markdown())
