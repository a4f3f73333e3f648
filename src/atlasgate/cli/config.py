"""``atlasgate config check``: validate a configuration and its policies without serving."""

from __future__ import annotations

import click

from atlasgate.cli.output import fail


@click.group()
def config() -> None:
    """Work with gateway configuration files."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def check(file: str) -> None:
    """Validate FILE and every policy it loads; print a summary or each error with its line."""
    from atlasgate.audit.stores import describe_store
    from atlasgate.config.load import load_config
    from atlasgate.errors import AtlasGateError
    from atlasgate.gateway.runtime import Snapshot
    from atlasgate.sigma.state import MemoryCorrelationState

    try:
        cfg = load_config(file)
        snapshot = Snapshot.build(cfg, MemoryCorrelationState())
    except AtlasGateError as exc:
        fail(str(exc), 1)
    policy = snapshot.policy
    openai = ", ".join(f"{u.name} ({u.base_url})" for u in cfg.upstreams.openai) or "none"
    predict = ", ".join(f"{u.name} ({u.base_url})" for u in cfg.upstreams.predict) or "none"
    click.echo(f"{file}: OK")
    click.echo(f"  listen       {cfg.listen.host}:{cfg.listen.port}  fail_mode={cfg.fail_mode}")
    click.echo(f"  keys         {len(cfg.keys)} ({sum(k.admin for k in cfg.keys)} admin)")
    click.echo(f"  openai       {openai}")
    click.echo(f"  predict      {predict}")
    click.echo(f"  policy       {len(policy.rules)} rules, revision {policy.revision}")
    detectors = sorted(snapshot.content.enabled) if snapshot.content else []
    click.echo(f"  detectors    {', '.join(detectors) or 'none'}")
    sigma = len(snapshot.sigma.rules) if snapshot.sigma else 0
    click.echo(f"  sigma        {sigma} rules")
    click.echo(f"  datasets     {', '.join(snapshot.datasets) or 'none'}")
    click.echo(f"  decision log {describe_store(cfg.audit)}")
