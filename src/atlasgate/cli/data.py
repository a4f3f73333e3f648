"""``atlasgate data``: profile trusted data, check new batches, sign and verify provenance."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from atlasgate.errors import AtlasGateError

DEFAULT_KEY = "atlasgate-data/signing-key.pem"


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def _key_path(key: str | None, config: str | None) -> str:
    if key:
        return key
    if config:
        from atlasgate.config.load import load_config

        return load_config(config).audit.signing_key
    return DEFAULT_KEY


@click.group()
def data() -> None:
    """Training-data integrity: profiles, poisoning checks and provenance manifests."""


@data.command("profile")
@click.argument("baseline", type=click.Path(dir_okay=False))
@click.option("--label", "label", default=None, help="The label (target) column.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Profile file.")
def profile_cmd(baseline: str, label: str | None, output: str) -> None:
    """Learn a profile from trusted data (CSV, Parquet or JSON lines)."""
    from atlasgate.data.frames import read_path
    from atlasgate.data.profile import Profile

    try:
        frame = read_path(baseline)
        profile = Profile.learn(frame, label, source=baseline)
        profile.save(output)
    except AtlasGateError as exc:
        _fail(exc)
        return
    kinds: dict[str, int] = {}
    for column in profile.columns:
        kinds[column.kind] = kinds.get(column.kind, 0) + 1
    described = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
    click.echo(f"profiled {profile.rows} rows ({described} columns) -> {output}")
    if profile.label_model is not None:
        click.echo(
            f"label model: {len(profile.classes)} classes, cross-validated accuracy "
            f"{profile.label_model.accuracy:.3f}"
        )


@data.command("check")
@click.option("--profile", "profile_path", required=True, type=click.Path(dir_okay=False))
@click.argument("batch", type=click.Path(dir_okay=False))
@click.option(
    "--report",
    "report_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write an HTML report here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--policy",
    "policy_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="A data-check policy YAML (rules: [...]) instead of the default.",
)
def check_cmd(
    profile_path: str, batch: str, report_path: str | None, as_json: bool, policy_path: str | None
) -> None:
    """Check a batch against a profile. Exit status: 0 ALLOW, 1 REVIEW, 3 BLOCK, 2 error."""
    from atlasgate.data.checks import check_batch
    from atlasgate.data.frames import read_path
    from atlasgate.data.policy import DataPolicy
    from atlasgate.data.profile import Profile
    from atlasgate.data.settings import CheckSettings
    from atlasgate.policy.decision import Action

    try:
        profile = Profile.load(profile_path)
        frame = read_path(batch)
        settings = CheckSettings()
        if policy_path:
            settings = CheckSettings(policy=DataPolicy.load(policy_path))
        report = check_batch(profile, frame, settings, batch_name=batch)
    except AtlasGateError as exc:
        _fail(exc)
        return
    if report_path:
        Path(report_path).write_text(report.to_html(), encoding="utf-8")
    click.echo(report.to_json() if as_json else report.to_text())
    sys.exit({Action.ALLOW: 0, Action.REVIEW: 1, Action.BLOCK: 3}.get(report.decision, 3))


@data.command("manifest")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--source", default="", help="Where the data came from (URL, vendor, pipeline).")
@click.option("--profile", "profile_path", default=None, type=click.Path(dir_okay=False))
@click.option(
    "--key",
    default=None,
    type=click.Path(dir_okay=False),
    help=f"Ed25519 private key (PEM); created if missing. Default: {DEFAULT_KEY}.",
)
@click.option(
    "--config",
    default=None,
    type=click.Path(dir_okay=False),
    help="Use the gateway's decision-log key (audit.signing_key).",
)
def manifest_cmd(
    directory: str,
    output: str,
    source: str,
    profile_path: str | None,
    key: str | None,
    config: str | None,
) -> None:
    """Write a signed manifest of every file under DIRECTORY."""
    from atlasgate.data.manifest import build_manifest

    try:
        manifest = build_manifest(
            directory,
            source=source,
            profile_path=profile_path,
            signing_key_path=_key_path(key, config),
            exclude=[output],
        )
    except AtlasGateError as exc:
        _fail(exc)
        return
    Path(output).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    click.echo(f"{len(manifest['files'])} files signed by key {manifest['signature']['key_id']} -> {output}")


@data.command("verify-manifest")
@click.argument("manifest_path", type=click.Path(dir_okay=False))
@click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False),
    help="The data directory (default: the one recorded in the manifest).",
)
@click.option(
    "--key",
    default=None,
    type=click.Path(dir_okay=False),
    help="Trusted key (public or private PEM) the manifest must be signed with.",
)
@click.option("--json", "as_json", is_flag=True)
def verify_manifest_cmd(manifest_path: str, directory: str | None, key: str | None, as_json: bool) -> None:
    """Verify a manifest: signature, and files added, removed or changed. Exit 1 on failure."""
    from atlasgate.data.manifest import load_manifest, load_public_key, verify_manifest

    try:
        manifest = load_manifest(manifest_path)
        trusted = load_public_key(key) if key else None
        report = verify_manifest(manifest, directory=directory, trusted_key=trusted, exclude=[manifest_path])
    except AtlasGateError as exc:
        _fail(exc)
        return
    record: dict[str, Any] = report.as_record()
    click.echo(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode() if as_json else report.to_text())
    sys.exit(0 if report.ok else 1)
