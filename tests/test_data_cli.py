"""``atlasgate data``: the commands a CI pipeline gates on, with exit codes and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_wine

from atlasgate.cli.data import data


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    frame = load_wine(as_frame=True).frame
    order = np.random.default_rng(0).permutation(len(frame))
    base, batch = frame.iloc[order[:110]], frame.iloc[order[110:]].reset_index(drop=True)
    base.to_csv(root / "base.csv", index=False)
    batch.to_parquet(root / "batch.parquet")
    poisoned = batch.copy()
    poisoned.loc[:30, "target"] = (poisoned.loc[:30, "target"] + 1) % 3
    poisoned.to_csv(root / "poisoned.csv", index=False)
    result = CliRunner().invoke(
        data, ["profile", str(root / "base.csv"), "--label", "target", "-o", str(root / "p.json")]
    )
    assert result.exit_code == 0, result.output
    return root


def test_profile_then_clean_parquet_batch_is_allowed(files):
    result = CliRunner().invoke(
        data, ["check", "--profile", str(files / "p.json"), str(files / "batch.parquet")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ALLOW")


def test_poisoned_csv_batch_blocks_with_report(files):
    report = files / "r.html"
    result = CliRunner().invoke(
        data,
        [
            "check",
            "--profile",
            str(files / "p.json"),
            str(files / "poisoned.csv"),
            "--json",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 3
    record = json.loads(result.output)
    assert record["decision"] == "BLOCK"
    assert any(f["check"] == "label_flips" for f in record["findings"])
    assert "label_flips" in report.read_text()


def test_broken_batch_is_a_clear_error_not_a_traceback(files):
    (files / "broken.csv").write_text("a,b\n1,2\n3\n")
    result = CliRunner().invoke(
        data, ["check", "--profile", str(files / "p.json"), str(files / "broken.csv")]
    )
    assert result.exit_code == 2
    assert "broken.csv:3: expected 2 fields" in result.output
    assert "Traceback" not in result.output


def test_manifest_and_verify(files, tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "base.csv").write_bytes((files / "base.csv").read_bytes())
    key = tmp_path / "k.pem"
    runner = CliRunner()
    made = runner.invoke(data, ["manifest", str(root), "-o", str(tmp_path / "m.json"), "--key", str(key)])
    assert made.exit_code == 0, made.output
    ok = runner.invoke(data, ["verify-manifest", str(tmp_path / "m.json"), "--key", str(key)])
    assert ok.exit_code == 0
    assert ok.output.startswith("OK")
    (root / "base.csv").write_text("x\n1\n")
    bad = runner.invoke(data, ["verify-manifest", str(tmp_path / "m.json")])
    assert bad.exit_code == 1
    assert "changed: base.csv" in bad.output


def test_manifest_signs_with_the_gateway_key_from_the_config(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "a.csv").write_text("x\n1\n")
    (tmp_path / "gateway.yaml").write_text("audit:\n  signing_key: keys/gateway.pem\n")
    result = CliRunner().invoke(
        data,
        ["manifest", str(root), "-o", str(tmp_path / "m.json"), "--config", str(tmp_path / "gateway.yaml")],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "keys" / "gateway.pem").exists()
    verified = CliRunner().invoke(
        data, ["verify-manifest", str(tmp_path / "m.json"), "--key", str(tmp_path / "keys" / "gateway.pem")]
    )
    assert verified.exit_code == 0, verified.output
