"""``atlasgate model register`` and ``list``: what is stored, and clear errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest
from click.testing import CliRunner

from atlasgate.cli.main import cli


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(X, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    frame["species"] = y
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def test_register_stores_profile_hashes_and_calibration_not_rows(iris_csv: Path, tmp_path: Path) -> None:
    registry = tmp_path / "models"
    result = CliRunner().invoke(cli, ["model", "register", "iris", "--data", str(iris_csv),
                                      "--label", "species", "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    assert "registered iris: 150 rows, 4 features, 3 classes" in result.output
    folder = registry / "iris"
    assert sorted(p.name for p in folder.iterdir()) == ["access.json", "model.json", "profile.json"]
    profile = orjson.loads((folder / "profile.json").read_bytes())
    hashes = profile["hashing"]["rows"]
    assert len(hashes) == len(set(hashes)) >= 140  # iris has a few duplicate rows
    assert all(len(h) == 32 for h in hashes)
    rows = {tuple(r) for r in pd.read_csv(iris_csv).drop(columns="species").to_numpy().tolist()}
    numeric = [v for v in _lists(profile) if all(isinstance(x, float | int) for x in v)]
    assert numeric
    assert not [v for v in numeric if tuple(v) in rows]
    access = orjson.loads((folder / "access.json").read_bytes())
    assert access["knn_threshold"] > 0
    assert access["curve"][-1][1] > 0.8
    assert 3 <= access["copy_queries"] <= 100  # iris is copied from a few dozen queries
    assert f"a copy trained on about {access['copy_queries']} natural queries" in result.output
    listed = CliRunner().invoke(cli, ["model", "list", "--registry", str(registry)])
    assert listed.exit_code == 0
    assert listed.output.startswith("iris: 150 rows, 4 features")


@pytest.mark.parametrize(("args", "message"), [
    (["bad name", "--data", "{csv}"], "invalid model name 'bad name'"),
    (["iris", "--data", "{missing}"], "no such file"),
    (["iris", "--data", "{csv}", "--label", "colour"], "label column 'colour' not found"),
])
def test_register_errors_are_one_clear_line(iris_csv: Path, tmp_path: Path, args: list[str],
                                            message: str) -> None:
    args = [a.format(csv=iris_csv, missing=tmp_path / "none.csv") for a in args]
    result = CliRunner().invoke(cli, ["model", "register", *args, "--registry", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_registry_follows_the_gateway_configuration(iris_csv: Path, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("detectors:\n  model_access:\n    registry: trained-models\n")
    result = CliRunner().invoke(cli, ["model", "list", "-c", str(config)])
    assert result.exit_code == 0
    assert f"no models registered in {tmp_path / 'trained-models'}" in result.output


def _lists(value: object) -> list[list[object]]:
    """Every list nested anywhere in a JSON document."""
    found: list[list[object]] = []
    if isinstance(value, list):
        found.append(value)
        for item in value:
            found.extend(_lists(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(_lists(item))
    return found
