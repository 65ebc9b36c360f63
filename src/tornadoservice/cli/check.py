"""``tornadoservice check --config FILE...``: what each configured service will admit.

Every service is loaded as ``serve`` loads it (handler class, method table, rules resolved
against the registry). Each exported method is printed with its effective authorization rule,
where that rule comes from, and its ``types_``; a method that admits nobody, or declares no
``types_``, gets a warning. Exit codes: 0 (warnings included), 1 when a service cannot load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from tornadoservice.authz.rules import Rule
from tornadoservice.cli.errors import CLIError
from tornadoservice.config.registry import Registry
from tornadoservice.config.tree import ConfigError, ConfigTree
from tornadoservice.server.app import services_from_config
from tornadoservice.server.arguments import ArgumentSpec
from tornadoservice.server.service import ExportedMethod, ServiceDefinitionError, build_method_table

__all__ = ["check"]

_BUILTINS = frozenset({"ping", "echo", "whoami", "describeService"})


@dataclass(frozen=True, slots=True)
class MethodReport:
    """One line of the report, and its warnings."""

    name: str
    rule: str
    types: str
    warnings: tuple[str, ...]


def _describe_types(arguments: ArgumentSpec) -> str:
    if not arguments.declares_types:
        return "no types_"
    if not arguments.checks:
        return "types_ checks nothing"
    return ", ".join(f"{check.name}: {check.expected()}" for check in arguments.checks)


def _holders(registry: Registry) -> list[frozenset[str]]:
    """The property sets (lower-case) a caller can have: one per group and per host."""
    sets = [
        frozenset(p.lower() for p in registry.group_properties(group)) for group in registry.groups
    ]
    sets.extend(
        frozenset(p.lower() for p in registry.host_properties(host)) for host in registry.hosts
    )
    return sets


def _nobody(rule: Rule, holders: list[frozenset[str]]) -> str | None:
    """Why ``rule`` admits nobody under this registry, or ``None`` when someone may call."""
    if rule.restricted and not rule.groups:
        return "its group:/vo: tokens match no group of the registry"
    if rule.allow_all or rule.authenticated:
        return None
    if not rule.properties:
        return None if rule.restricted else "the rule is empty"
    if not any(rule.properties & held for held in holders):
        return "no group or host of the registry has any of its properties"
    return None


def method_report(method: ExportedMethod, holders: list[frozenset[str]]) -> MethodReport:
    warnings: list[str] = []
    nobody = _nobody(method.rule, holders)
    # describeService admits only ServiceAdministrator: nobody holding it is a site's choice.
    if nobody is not None and method.name != "describeService":
        warnings.append(
            f"admits nobody: {nobody} (add auth_{method.name} or an Authorization option)"
        )
    if not method.arguments.declares_types and method.name not in _BUILTINS:
        warnings.append(f"declares no types_{method.name}: arguments are not checked")
    rule = "[" + ", ".join(method.rule.tokens) + "]" if method.rule.tokens else "[] (nobody)"
    return MethodReport(method.name, rule, _describe_types(method.arguments), tuple(warnings))


def check_config(config: ConfigTree) -> tuple[list[str], int]:
    """The report's lines for ``config`` and its number of warnings (raises if one fails)."""
    registry = Registry.from_config(config)
    holders = _holders(registry)
    lines: list[str] = []
    warnings = 0
    for spec in services_from_config(config):
        section = "/Systems/{}/Services/{}".format(*spec.name.split("/"))
        table = build_method_table(
            spec.handler, config.options(f"{section}/Authorization"), registry
        )
        handler = f"{spec.handler.__module__}.{spec.handler.__qualname__}"
        lines.append(f"{spec.name} (port {spec.port}, {handler})")
        for name in sorted(table):
            report = method_report(table[name], holders)
            lines.append(f"  {report.name}  auth={report.rule}  types={report.types}")
            lines.extend(f"    warning: {warning}" for warning in report.warnings)
            warnings += len(report.warnings)
    return lines, warnings


@click.command()
@click.option(
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Configuration file (.cfg or .yaml); repeat to merge several, later ones win.",
)
def check(configs: tuple[Path, ...]) -> None:
    """Load every service as serve would and print each method's rule and types_."""
    try:
        config = ConfigTree.load(*configs)
        lines, warnings = check_config(config)
    except (ConfigError, ServiceDefinitionError) as exc:
        raise CLIError(f"cannot load: {exc}") from exc
    except OSError as exc:
        raise CLIError(f"{exc.filename or 'configuration'}: {exc.strerror}") from exc
    if not lines:
        raise CLIError("the configuration defines no service with Protocol = https")
    for line in lines:
        click.echo(line)
    click.echo(f"{warnings} warning(s)", err=True)
