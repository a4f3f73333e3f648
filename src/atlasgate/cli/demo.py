"""``atlasgate demo``: the gateway on embedded defaults, in front of honest sample models."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click

from atlasgate.cli.output import fail


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-traffic", is_flag=True, help="Skip the scripted scenario; just serve.")
@click.option("--data-dir", default="atlasgate-data/demo", show_default=True,
              type=click.Path(file_okay=False), help="Where the decision log and key live.")
def demo(host: str, port: int, no_traffic: bool, data_dir: str) -> None:
    """Start the gateway before sample models, drive a scenario, print each decision live."""
    try:
        folder = Path(data_dir).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        from atlasgate.gateway.server import run

        run(_demo(host, port, no_traffic, folder))
    except OSError as exc:
        fail(f"cannot start: {exc.strerror or exc} (is port {port} in use? try --port)")
    except KeyboardInterrupt:
        pass


async def _demo(host: str, port: int, no_traffic: bool, data_dir: Path) -> None:
    from rich.console import Console

    from atlasgate.auth import hash_key, new_key
    from atlasgate.config.load import ConfigOrigin, build_config
    from atlasgate.demo.console import DecisionTable
    from atlasgate.demo.scenario import run_scenario
    from atlasgate.demo.upstream import start_sample_upstreams
    from atlasgate.gateway.runtime import Gateway
    from atlasgate.gateway.server import GatewayServer, configure_logging

    configure_logging()
    console = Console(highlight=False)
    console.print("[bold]AtlasGate demo[/] — training the sample classifier (scikit-learn digits)…")
    samples = await start_sample_upstreams(chunk_delay=0.01)
    user_key, admin_key = new_key(), new_key()
    config = build_config({
        "listen": {"host": host, "port": port},
        "keys": [{"id": "demo", "hash": hash_key(user_key), "tenant": "demo"},
                 {"id": "demo-admin", "hash": hash_key(admin_key), "tenant": "demo", "admin": True}],
        "upstreams": {
            "openai": [{"name": "sample-chat", "base_url": samples.chat_base_url,
                        "models": ["sample-chat", "sample-embed"]}],
            "predict": [{"name": samples.classifier.name, "base_url": samples.predict_base_url}],
        },
        "audit": {"path": "decisions.db", "signing_key": "signing-key.pem"},
    }, ConfigOrigin(None, data_dir, None))
    gateway = Gateway(config)
    table = DecisionTable(console)
    gateway.observers.append(table)
    server = GatewayServer(gateway, host, port)
    task = asyncio.create_task(server.serve())
    try:
        await server.wait_started(task)
    except BaseException:
        await samples.close()
        raise
    base = f"http://{host}:{server.port}"
    accuracy = samples.classifier.accuracy
    console.print(f"""
[bold]Gateway[/]   {base}/v1   (OpenAI-compatible)   {base}/v1/models/{samples.classifier.name}:predict
[bold]API key[/]   {user_key}
[bold]Admin key[/] {admin_key}
[bold]Samples[/]   chat 'sample-chat' and embeddings 'sample-embed' (a deterministic sample responder);
          classifier '{samples.classifier.name}' (scikit-learn on digits, held-out accuracy {accuracy:.3f})
[bold]Decision log[/] {config.audit.path}
          verify it: atlasgate audit --db {config.audit.path} verify --key {config.audit.signing_key}

Try:  curl -s {base}/v1/chat/completions -H 'Authorization: Bearer {user_key}' \\
        -H 'Content-Type: application/json' \\
        -d '{{"model":"sample-chat","messages":[{{"role":"user","content":"hello"}}]}}'
""", soft_wrap=True)
    table.header()
    scenario = None
    if not no_traffic:
        scenario = asyncio.create_task(run_scenario(base, user_key, samples))

        def scenario_done(_: object) -> None:
            table.flush()
            console.print("[dim]scenario done; still serving — press Ctrl-C to stop[/]")

        scenario.add_done_callback(scenario_done)
    try:
        await task
    finally:
        if scenario is not None and not scenario.done():
            scenario.cancel()
            with contextlib.suppress(BaseException):
                await scenario
        table.flush()
        await samples.close()
        console.print("[dim]stopped; the decision log is checkpointed[/]")
