"""``atlasgate audit``: verify, prove, tail and export the decision log.

Exit codes: 0 all good, 1 verification failed, 2 usage or I/O error.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
import orjson

from atlasgate.errors import AtlasGateError

_F = TypeVar("_F", bound=Callable[..., Any])


class UsageFailure(click.ClickException):
    exit_code = 2


def _errors_as_exit(function: _F) -> _F:
    """Turn the product's own errors into a one-line message and exit code 2."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except AtlasGateError as exc:
            raise UsageFailure(str(exc)) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise UsageFailure(f"{where}{exc.strerror or exc}") from None

    return wrapper  # type: ignore[return-value]


def _line_of(node: Any, keys: list[str]) -> int | None:
    """Line of the deepest mapping key along ``keys`` in a composed YAML node."""
    line = None
    for key in keys:
        if not hasattr(node, "value") or not isinstance(node.value, list):
            break
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                line = key_node.start_mark.line + 1
                node = value_node
                break
        else:
            break
    return line


def _fallback_settings(path: Path) -> Any:
    """Read only the ``audit:`` section, for installations without the config package."""
    import yaml
    from pydantic import ValidationError

    from atlasgate.audit.settings import AuditSettings
    from atlasgate.errors import ConfigError

    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError("file not found", str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", str(path), line) from None
    section = (data or {}).get("audit", {}) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        line = _line_of(yaml.compose(text), ["audit"])
        raise ConfigError("the audit section must be a mapping", str(path), line)
    try:
        settings = AuditSettings.model_validate(section)
    except ValidationError as exc:
        error = exc.errors()[0]
        keys = ["audit", *map(str, error["loc"])]
        line = _line_of(yaml.compose(text), keys)
        raise ConfigError(f"{'.'.join(keys)}: {error['msg']}", str(path), line) from None
    base = path.resolve().parent

    def resolve(value: str) -> str:
        candidate = Path(value).expanduser()
        return str(candidate if candidate.is_absolute() else base / candidate)

    return settings.model_copy(
        update={"path": resolve(settings.path), "signing_key": resolve(settings.signing_key)}
    )


def _settings(config: Path | None) -> Any:
    from atlasgate.audit.settings import AuditSettings

    if config is None:
        return AuditSettings()
    try:
        from atlasgate.config.load import load_config
    except ImportError:
        return _fallback_settings(config)
    return load_config(config).audit


class _Context:
    def __init__(
        self, config: Path | None, db: Path | None, dsn: str | None, table_prefix: str | None
    ) -> None:
        if db is not None and dsn is not None:
            raise UsageFailure("pass either --db (a SQLite log) or --dsn (a PostgreSQL log), not both")
        self.config = config
        self.db_override = db
        self.dsn_override = dsn
        self.table_prefix = table_prefix
        self._settings: Any = None

    @property
    def settings(self) -> Any:
        if self._settings is None:
            self._settings = _settings(self.config)
        return self._settings

    def _log_settings(self) -> Any:
        """The audit settings with --db, --dsn and --table-prefix applied."""
        settings = self.settings
        update: dict[str, Any] = {}
        if self.db_override is not None:
            update = {"store": "sqlite", "path": str(self.db_override)}
        elif self.dsn_override is not None:
            update = {"store": "postgresql", "dsn": self.dsn_override, "dsn_env": None}
        if self.table_prefix is not None:
            update["table_prefix"] = self.table_prefix
        return settings.model_copy(update=update) if update else settings

    @property
    def location(self) -> str:
        """Where the log lives, for messages (a file path, or a DSN without password)."""
        from atlasgate.audit.stores import describe_store

        return describe_store(self._log_settings())

    def reader(self) -> Any:
        from atlasgate.audit.reader import open_log_reader

        return open_log_reader(self._log_settings())

    def signing_key_path(self, key: Path | None) -> Path:
        return key or Path(self.settings.signing_key)

    def public_key(self, public_key: Path | None, key: Path | None, *, required: bool = True) -> Any:
        from atlasgate.audit.checkpoint import load_public_key

        if public_key is not None:
            return load_public_key(public_key)
        if key is not None:
            return load_public_key(key)
        if not required:
            return None
        path = Path(self.settings.signing_key)
        if path.is_file():
            return load_public_key(path)
        raise UsageFailure(
            f"no public key: {path} does not exist; pass --public-key FILE "
            "(exported with `atlasgate audit public-key`) or --key FILE"
        )


_pass_context = click.make_pass_decorator(_Context)

_public_key_option = click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM public key to trust (exported with `atlasgate audit public-key`).",
)
_key_option = click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key file; its public half is used. Default: audit.signing_key.",
)


@click.group()
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Gateway configuration; its audit: section locates the log and key.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite decision log file (overrides the configuration).",
)
@click.option(
    "--dsn",
    help="PostgreSQL decision log, e.g. postgresql://host:5432/atlasgate (overrides the configuration).",
)
@click.option(
    "--table-prefix",
    help="Table name prefix of the PostgreSQL log (default: audit.table_prefix, else atlasgate_).",
)
@click.pass_context
@_errors_as_exit
def audit(
    ctx: click.Context, config: Path | None, db: Path | None, dsn: str | None, table_prefix: str | None
) -> None:
    """Verify, prove, tail and export the tamper-evident decision log.

    The log is the one the configuration's audit: section names (SQLite by default,
    or PostgreSQL with store: postgresql), or the one given with --db or --dsn.
    """
    if table_prefix is not None:
        from atlasgate.audit.postgres_store import PREFIX

        if not PREFIX.fullmatch(table_prefix):
            raise UsageFailure(
                f"--table-prefix {table_prefix!r} must be lowercase letters, digits and '_' "
                "(at most 40, not starting with a digit)"
            )
    ctx.obj = _Context(config, db, dsn, table_prefix)


def _print_report(report: Any, db: str, fingerprint: str, out: TextIO) -> None:
    def say(text: str = "") -> None:
        click.echo(text, file=out)

    witnessed = f" and {report.witnessed} witnessed" if report.witnessed else ""
    say(f"decision log {db}: {report.entries} entries, {report.checkpoints} checkpoints{witnessed}")
    say(f"trusted key  {fingerprint}")
    say(f"tree root    {report.root.hex()}")
    if report.ok:
        latest = report.latest_verified
        if latest is None:
            say("OK: hash chain and tree intact; no checkpoint has been signed yet")
        else:
            say(
                f"OK: hash chain and tree intact; {report.verified_checkpoints} of "
                f"{report.checkpoints + report.witnessed} checkpoints verified; the latest covers "
                f"{latest.tree_size} entries (signed {latest.timestamp})"
            )
        if report.uncovered:
            say(f"note: the last {report.uncovered} entries are not yet covered by a signed checkpoint")
        return
    say("FAILED: the decision log does not verify")
    if report.first_bad_entry is not None:
        say(f"  first bad entry: {report.first_bad_entry}")
    for problem in report.bad_checkpoints:
        say(f"  {problem}")


@audit.command()
@_public_key_option
@_key_option
@click.option(
    "--origin",
    help="Require checkpoints to name this log (default: audit.origin with --config, else any).",
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A signed checkpoint kept outside the log (saved with `atlasgate audit checkpoint`); "
    "the log must still match it. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_pass_context
@_errors_as_exit
def verify(
    obj: _Context, public_key: Path | None, key: Path | None, origin: str | None,
    checkpoints: tuple[Path, ...], as_json: bool,
) -> None:
    """Recompute the log and check every signed checkpoint.

    Re-hashes every entry, the hash chain and the Merkle root at each checkpoint, checks
    every signature, and names the first entry that was modified, deleted, reordered or
    truncated. Checkpoints saved elsewhere (--checkpoint) also catch a log cut back
    together with its own checkpoints. Exit 0 when intact, 1 when not.
    """
    from atlasgate.audit.checkpoint import public_key_fingerprint
    from atlasgate.audit.verify import Witness, verify_log

    trusted = obj.public_key(public_key, key)
    if origin is None and obj.config is not None:
        origin = obj.settings.origin
    witnesses = [Witness(str(path), path.read_text(encoding="utf-8", errors="replace"))
                 for path in checkpoints]
    with obj.reader() as reader:
        report = verify_log(reader, trusted, origin=origin, witnesses=witnesses)
    if as_json:
        body = report.as_dict() | {"db": obj.location, "key": public_key_fingerprint(trusted)}
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        _print_report(report, obj.location, public_key_fingerprint(trusted), sys.stdout)
    if not report.ok:
        sys.exit(1)


@audit.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@_public_key_option
@_key_option
@_pass_context
@_errors_as_exit
def checkpoint(obj: _Context, output: Path | None, public_key: Path | None, key: Path | None) -> None:
    """Print the latest signed checkpoint, to keep somewhere the gateway cannot write.

    A checkpoint kept elsewhere is a witness: `verify --checkpoint FILE` later proves
    the log still holds everything it signed, even if the log's own checkpoints were
    removed with the entries they covered. Its signature is checked before it is printed.
    """
    from atlasgate.audit.checkpoint import open_checkpoint
    from atlasgate.audit.errors import CheckpointError

    trusted = obj.public_key(public_key, key)
    with obj.reader() as reader:
        latest = reader.latest_checkpoint()
    if latest is None:
        raise UsageFailure(f"{obj.location} has no signed checkpoint yet")
    try:
        signed = open_checkpoint(latest.note, trusted)
    except CheckpointError as exc:
        click.echo(f"FAILED: the latest checkpoint in {obj.location} does not verify: {exc}",
                   err=True)
        sys.exit(1)
    if output is None:
        click.echo(latest.note, nl=False)
    else:
        output.write_text(latest.note, encoding="utf-8")
        click.echo(f"wrote the checkpoint of {signed.tree_size} entries "
                   f"(signed {signed.timestamp}) to {output}", err=True)


@audit.command()
@click.argument("decision_id")
@click.option("--seq", type=int, help="Which entry, when a decision id was logged more than once.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@_public_key_option
@_key_option
@_pass_context
@_errors_as_exit
def proof(
    obj: _Context,
    decision_id: str,
    seq: int | None,
    output: Path | None,
    public_key: Path | None,
    key: Path | None,
) -> None:
    """Print an inclusion proof for DECISION_ID.

    The JSON holds the entry, its leaf index, the audit path and the signed checkpoint
    it leads to, so `verify-proof` or anyone else can check it without the database.
    """
    from atlasgate.audit.proof import build_inclusion_proof

    trusted = obj.public_key(public_key, key)
    with obj.reader() as reader:
        found = reader.find(decision_id)
        if seq is not None:
            found = [entry for entry in found if entry.seq == seq]
        if not found:
            raise UsageFailure(f"decision {decision_id!r} is not in {obj.location}")
        if len(found) > 1:
            seqs = ", ".join(str(entry.seq) for entry in found)
            raise UsageFailure(f"decision {decision_id!r} was logged as entries {seqs}; pick one with --seq")
        document = build_inclusion_proof(reader, found[0], trusted)
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote inclusion proof of entry {document['leaf_index']} to {output}", err=True)


@audit.command("verify-proof")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@_public_key_option
@_key_option
@_pass_context
@_errors_as_exit
def verify_proof_command(obj: _Context, file: Path, public_key: Path | None, key: Path | None) -> None:
    """Check an inclusion proof offline.

    FILE is a proof from `atlasgate audit proof`, or - for standard input.
    """
    from atlasgate.audit.errors import VerificationError
    from atlasgate.audit.verify import verify_proof

    text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    trusted = obj.public_key(public_key, key, required=False)
    try:
        result = verify_proof(text, trusted)
    except VerificationError as exc:
        click.echo(f"FAILED: {exc}")
        sys.exit(1)
    checkpoint = result.checkpoint
    click.echo(
        f"OK: decision {result.decision_id} is entry {result.entry.seq} of log "
        f"{checkpoint.origin!r} at size {checkpoint.tree_size}, in the checkpoint signed "
        f"{checkpoint.timestamp} by key {result.key_fingerprint}"
    )
    if result.key_embedded:
        click.echo(
            "note: checked against the public key inside the proof; pass --public-key "
            "with the log's published key to rule out a substituted key",
            err=True,
        )


def _write_entries(out: Any, entries: Any) -> int:
    written = 0
    for entry in entries:
        out.write(entry.data + b"\n")
        written += 1
    return written


@audit.command()
@click.option("-n", "--lines", "count", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new entries as they arrive.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    help="Seconds between polls with --follow.",
)
@_pass_context
@_errors_as_exit
def tail(obj: _Context, count: int, follow: bool, interval: float) -> None:
    """Print the newest entries as JSON lines.

    Each line is an entry's exact canonical bytes.
    """
    out = click.get_binary_stream("stdout")
    try:
        with obj.reader() as reader:
            entries = reader.tail(count) if count else []
            next_seq = entries[-1].seq + 1 if entries else reader.size()
            _write_entries(out, entries)
            out.flush()
            while follow:
                time.sleep(interval)
                fresh = list(reader.entries(next_seq))
                if fresh:
                    _write_entries(out, fresh)
                    next_seq = fresh[-1].seq + 1
                    out.flush()
    except KeyboardInterrupt:
        return
    except BrokenPipeError:
        sys.stderr.close()


@audit.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@_pass_context
@_errors_as_exit
def export(obj: _Context, fmt: str, output: Path | None) -> None:
    """Export all entries as JSON lines.

    Each line is exactly the bytes that were hashed into the tree, so the export is
    enough to recompute every signed root.
    """
    with obj.reader() as reader:
        if output is None:
            out = click.get_binary_stream("stdout")
            _write_entries(out, reader.entries())
            out.flush()
            return
        with output.open("wb") as handle:
            written = _write_entries(handle, reader.entries())
    click.echo(f"exported {written} entries to {output}", err=True)


@audit.command("public-key")
@_key_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@_pass_context
@_errors_as_exit
def public_key_command(obj: _Context, key: Path | None, output: Path | None) -> None:
    """Print the public key that verifies the checkpoints (PEM)."""
    from atlasgate.audit.checkpoint import load_public_key, public_key_fingerprint, public_key_pem

    path = obj.signing_key_path(key)
    if not path.is_file():
        raise UsageFailure(f"no signing key at {path}; the gateway creates it when it first writes the log")
    trusted = load_public_key(path)
    pem = public_key_pem(trusted)
    if output is None:
        click.echo(pem, nl=False)
    else:
        output.write_text(pem, encoding="utf-8")
        click.echo(f"wrote public key {public_key_fingerprint(trusted)} to {output}", err=True)
