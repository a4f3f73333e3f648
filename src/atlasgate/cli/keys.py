"""``atlasgate keys``: create API keys; only their hashes go into the configuration."""

from __future__ import annotations

import click


@click.group()
def keys() -> None:
    """Create and hash API keys."""


@keys.command("new")
@click.option("--id", "key_id", required=True, help="A name for the key, shown in logs.")
@click.option("--tenant", default="default", show_default=True)
@click.option("--user", default=None, help="Defaults to the key id.")
@click.option("--admin", is_flag=True, help="Allow admin routes (reload, reviews).")
def new(key_id: str, tenant: str, user: str | None, admin: bool) -> None:
    """Print a new random key once, and the YAML entry (with its hash) for gateway.yaml."""
    from atlasgate.auth import hash_key, new_key

    key = new_key()
    click.echo(f"key (shown once, give it to the caller): {key}", err=True)
    entry = f"  - {{id: {key_id}, hash: \"{hash_key(key)}\", tenant: {tenant}"
    if user:
        entry += f", user: {user}"
    if admin:
        entry += ", admin: true"
    click.echo(entry + "}")


@keys.command("hash")
@click.argument("key")
def hash_(key: str) -> None:
    """Print the hash of an existing KEY, for the keys section of gateway.yaml."""
    from atlasgate.auth import hash_key

    click.echo(hash_key(key))
