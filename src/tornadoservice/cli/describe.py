"""``tornadoservice describe TARGET``: a running service's methods, rules, types_ and docstrings.

Calls the built-in ``describeService`` (by default only callers with ``ServiceAdministrator``
may) with the same credential options as ``call``. Exit codes as ``call``: 0, 1 (``S_ERROR``,
e.g. refused), 2 usage, 3 connection.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from tornadoservice.cli.call import (
    EXIT_FAILURE,
    EXIT_OK,
    build_client,
    client_errors,
    client_options,
    pretty,
)
from tornadoservice.core.log import escape_control

DESCRIBE_METHOD = "describeService"
"""``tornadoservice.server.introspection.DESCRIBE_METHOD`` (the CLI does not import the server)."""


def _arguments(arguments: dict[str, Any]) -> str:
    low, high = arguments.get("min", 0), arguments.get("max")
    count = f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")
    types = arguments.get("types") or {}
    if types:
        checked = ", ".join(f"{name}: {kind}" for name, kind in types.items())
    else:
        checked = "types_ checks nothing" if arguments.get("declares types_") else "no types_"
    return f"args={count}  types={checked}"


def render(description: dict[str, Any]) -> list[str]:
    """The description as lines for people (every value escaped: it comes from a server)."""
    lines = [escape_control(f"{description.get('service')} ({description.get('URL')})")]
    methods = description.get("methods") or {}
    for name, method in methods.items():
        rule = "[" + ", ".join(map(str, method.get("rule") or [])) + "]"
        schemes = ",".join(map(str, method.get("authentication") or []))
        lines.append(
            escape_control(
                f"  {name}  auth={rule}  via={schemes}  {_arguments(method.get('arguments') or {})}"
            )
        )
        doc = str(method.get("doc") or "").strip()
        if doc:
            lines.extend(f"      {escape_control(line)}" for line in doc.splitlines())
    return lines


@click.command()
@click.argument("target")
@client_options
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def describe(target: str, as_json: bool, **options: Any) -> None:
    """List the methods of the running service TARGET: rules, types_, docstrings.

    TARGET is an https:// URL or System/Service (with --config). The caller needs the
    property the service's rule for describeService asks (default ServiceAdministrator).
    """
    client = build_client(target, **options)
    try:
        with client_errors(target):
            result = client.execute_rpc(DESCRIBE_METHOD)
    finally:
        client.close()
    if not result["OK"]:
        click.echo(f"tornadoservice: S_ERROR: {escape_control(result['Message'])}", err=True)
        sys.exit(EXIT_FAILURE)
    value = result["Value"]
    if as_json:
        click.echo(pretty(value))
    else:
        click.echo("\n".join(render(value)))
    sys.exit(EXIT_OK)
