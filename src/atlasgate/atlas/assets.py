"""The AI assets a threat model is about, read from ``assets.yaml``.

    system: Acme support platform
    gateway: gateway.yaml            # optional; --config wins
    assets:
      - id: support-bot
        kind: llm_chat_api           # see KINDS
        exposure: public             # public | partner | internal
        access: scores               # scores | labels | full | none
        data_sensitivity: confidential
        behind_gateway: true         # default depends on the kind
        controls:                    # controls that live outside the gateway
          - {name: WAF rate limit, techniques: [AML.T0029], strength: constrain}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlasgate.atlas.controls import Control, Strength, external_control
from atlasgate.atlas.index import TECHNIQUE_ID, AtlasIndex, normalize_id
from atlasgate.atlas.yamlfile import YamlDoc, load_yaml_file

KINDS: dict[str, str] = {
    "llm_chat_api": "LLM chat API",
    "classifier_api": "classifier inference API",
    "embedding_api": "embedding API",
    "training_dataset": "training data set",
    "finetuning_pipeline": "fine-tuning pipeline",
    "rag_index": "RAG index",
    "model_registry": "model registry / weights",
    "agent": "agent with tools",
}
_KIND_ALIASES = {
    "llm": "llm_chat_api", "chat": "llm_chat_api", "llm_api": "llm_chat_api",
    "classifier": "classifier_api", "inference_api": "classifier_api",
    "embedding": "embedding_api", "embeddings": "embedding_api",
    "dataset": "training_dataset", "training_data": "training_dataset",
    "training_data_set": "training_dataset", "fine_tuning_pipeline": "finetuning_pipeline",
    "rag": "rag_index", "vector_store": "rag_index", "model_weights": "model_registry",
    "registry": "model_registry", "weights": "model_registry", "agent_with_tools": "agent",
}
EXPOSURES = ("public", "partner", "internal")
ACCESS = {
    "scores": "black-box scores",
    "labels": "labels only",
    "full": "full model",
    "none": "no query access",
}
_ACCESS_ALIASES = {"black_box_scores": "scores", "probabilities": "scores",
                   "labels_only": "labels", "full_model": "full", "white_box": "full"}
SENSITIVITY = ("public", "internal", "confidential", "restricted")
_GATEWAY_BY_DEFAULT = {"llm_chat_api", "classifier_api", "embedding_api", "agent",
                       "training_dataset"}


@dataclass(slots=True)
class Asset:
    id: str
    name: str
    kind: str
    exposure: str
    access: str
    data_sensitivity: str
    behind_gateway: bool
    description: str = ""
    controls: list[Control] = field(default_factory=list)
    line: int | None = None

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


@dataclass(slots=True)
class AssetModel:
    system: str
    assets: list[Asset]
    source: str
    gateway: str | None = None


def _key(value: Any) -> str:
    return str(value).strip().lower().replace("-", "_").replace(" ", "_").replace("/", "_")


def _choice(doc: YamlDoc, path: tuple[str | int, ...], value: Any, allowed: Any,
            aliases: Mapping[str, str], what: str) -> str:
    key = _key(value)
    key = aliases.get(key, key)
    if key not in allowed:
        choices = ", ".join(allowed)
        raise doc.error(f"{what} {value!r} is not one of: {choices}", path)
    return key


def _external_controls(doc: YamlDoc, path: tuple[str | int, ...], items: Any,
                       index: AtlasIndex) -> list[Control]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise doc.error("controls must be a list", path)
    controls = []
    for i, item in enumerate(items):
        where = (*path, i)
        if not isinstance(item, Mapping) or not item.get("name"):
            raise doc.error("each control needs a name", where)
        techniques = item.get("techniques") or item.get("atlas") or []
        if not isinstance(techniques, list) or not techniques:
            raise doc.error(f"control {item['name']!r} needs a list of ATLAS technique IDs",
                            (*where, "techniques"))
        ids = []
        for j, tid in enumerate(techniques):
            norm = normalize_id(str(tid))
            if not TECHNIQUE_ID.match(norm) or not index.known(norm):
                raise doc.error(f"{tid!r} is not an ATLAS technique ID in release {index.version}",
                                (*where, "techniques", j))
            ids.append(norm)
        try:
            strength = Strength.parse(item.get("strength", "detect"))
        except ValueError as exc:
            raise doc.error(str(exc), (*where, "strength")) from None
        if strength is Strength.NONE:
            raise doc.error("strength must be detect, constrain or block", (*where, "strength"))
        line = doc.line(where)
        controls.append(external_control(str(item["name"]), ids, strength,
                                         f"{doc.source}:{line}" if line else doc.source))
    return controls


def parse_assets(doc: YamlDoc, index: AtlasIndex) -> AssetModel:
    data = doc.data
    if isinstance(data, list):
        data = {"assets": data}
    if not isinstance(data, Mapping):
        raise doc.error("an assets file is a mapping with an 'assets:' list")
    items = data.get("assets")
    if not isinstance(items, list) or not items:
        raise doc.error("'assets' must be a non-empty list", ("assets",))
    assets: list[Asset] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path: tuple[str | int, ...] = ("assets", i)
        if not isinstance(item, Mapping):
            raise doc.error("each asset is a mapping (id, kind, exposure, access, ...)", path)
        for required in ("id", "kind"):
            if not item.get(required):
                raise doc.error(f"asset is missing '{required}'", path)
        asset_id = str(item["id"])
        if asset_id in seen:
            raise doc.error(f"duplicate asset id {asset_id!r}", (*path, "id"))
        seen.add(asset_id)
        kind = _choice(doc, (*path, "kind"), item["kind"], KINDS, _KIND_ALIASES, "kind")
        default_access = "scores" if kind in ("classifier_api", "embedding_api", "llm_chat_api",
                                              "agent") else "none"
        access = _choice(doc, (*path, "access"), item.get("access", default_access), ACCESS,
                         _ACCESS_ALIASES, "access")
        exposure = _choice(doc, (*path, "exposure"), item.get("exposure", "internal"),
                           EXPOSURES, {}, "exposure")
        sensitivity = _choice(doc, (*path, "data_sensitivity"),
                              item.get("data_sensitivity", "internal"), SENSITIVITY, {},
                              "data_sensitivity")
        behind = item.get("behind_gateway", kind in _GATEWAY_BY_DEFAULT)
        if not isinstance(behind, bool):
            raise doc.error("behind_gateway must be true or false", (*path, "behind_gateway"))
        assets.append(Asset(
            id=asset_id,
            name=str(item.get("name") or asset_id),
            kind=kind,
            exposure=exposure,
            access=access,
            data_sensitivity=sensitivity,
            behind_gateway=behind,
            description=str(item.get("description") or ""),
            controls=_external_controls(doc, (*path, "controls"), item.get("controls"), index),
            line=doc.line(path),
        ))
    gateway = data.get("gateway")
    if gateway is not None:
        gateway_path = Path(str(gateway)).expanduser()
        if not gateway_path.is_absolute():
            gateway_path = Path(doc.source).resolve().parent / gateway_path
        gateway = str(gateway_path)
    return AssetModel(system=str(data.get("system") or Path(doc.source).stem), assets=assets,
                      source=doc.source, gateway=gateway)


def load_assets(path: str | Path, index: AtlasIndex) -> AssetModel:
    return parse_assets(load_yaml_file(path), index)
