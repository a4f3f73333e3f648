"""``atlasgate serve``: the gateway in front of real upstreams, from one YAML file."""

from __future__ import annotations

import sys

import click

from atlasgate.cli.output import fail


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="gateway.yaml")
@click.option("--host", default=None, help="Override listen.host.")
@click.option("--port", default=None, type=int, help="Override listen.port.")
def serve(config_path: str, host: str | None, port: int | None) -> None:
    """Run the gateway. SIGHUP reloads policies; SIGTERM drains and checkpoints the log."""
    from atlasgate.config.load import load_config
    from atlasgate.errors import AtlasGateError
    from atlasgate.gateway.runtime import Gateway
    from atlasgate.gateway.server import GatewayServer, configure_logging, run

    configure_logging()
    try:
        config = load_config(config_path)
        gateway = Gateway(config, config_path=config_path)
    except AtlasGateError as exc:
        fail(str(exc))
    listen_host = host or config.listen.host
    listen_port = config.listen.port if port is None else port
    server = GatewayServer(gateway, listen_host, listen_port)
    click.echo(f"AtlasGate listening on http://{listen_host}:{listen_port} "
               f"(policy revision {gateway.snapshot.policy.revision}, "
               f"{len(gateway.snapshot.policy.rules)} rules, {len(gateway.snapshot.keys)} keys)",
               err=True)
    run(server.serve())
    if not server.started:
        sys.exit(1)
