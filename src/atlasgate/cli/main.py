"""The ``atlasgate`` command.

Command groups live in their own modules and are imported only when invoked, so
``atlasgate audit tail`` does not pay for importing scikit-learn or the server.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from atlasgate import __version__

# name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "serve": "atlasgate.cli.serve:serve",
    "demo": "atlasgate.cli.demo:demo",
    "config": "atlasgate.cli.config:config",
    "keys": "atlasgate.cli.keys:keys",
    "policy": "atlasgate.cli.policy:policy",
    "audit": "atlasgate.cli.audit:audit",
    "scan": "atlasgate.cli.scan:scan",
    "model": "atlasgate.cli.model:model",
    "sigma": "atlasgate.cli.sigma:sigma",
    "atlas": "atlasgate.cli.atlas:atlas",
    "coverage": "atlasgate.cli.coverage:coverage",
    "threatmodel": "atlasgate.cli.threatmodel:threatmodel",
    "playbook": "atlasgate.cli.playbook:playbook",
    "compliance": "atlasgate.cli.compliance:compliance",
    "data": "atlasgate.cli.data:data",
}


def _available() -> list[str]:
    found = []
    for name, target in COMMANDS.items():
        module = target.split(":")[0]
        if importlib.util.find_spec(module) is not None:
            found.append(name)
    return found


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_available())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        if importlib.util.find_spec(module_name) is None:
            return None
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="atlasgate")
def cli() -> None:
    """AtlasGate: detect, decide, enforce and log every access to your AI models."""


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
