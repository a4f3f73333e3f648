"""Build the compact ATLAS fact index shipped in the package.

    python scripts/build_atlas_index.py [--atlas ../shared/atlas/ATLAS.yaml]
                                        [--out src/atlasgate/atlas/index.json.gz]

The output is deterministic (sorted JSON, gzip without a timestamp), so a rebuild
from the same ATLAS release changes no bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from atlasgate.atlas.data import read_atlas_file  # noqa: E402
from atlasgate.atlas.facts import extract_facts  # noqa: E402
from atlasgate.errors import ConfigError  # noqa: E402


def build(atlas_path: Path) -> bytes:
    raw, source = read_atlas_file(atlas_path)
    facts = extract_facts(raw, source)
    text = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atlas", type=Path, default=ROOT.parent / "shared/atlas/ATLAS.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "src/atlasgate/atlas/index.json.gz")
    args = parser.parse_args()
    try:
        blob = build(args.atlas)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.write_bytes(blob)
    facts = json.loads(gzip.decompress(blob))
    print(f"{args.out}: ATLAS {facts['atlas_version']}, {len(facts['tactics'])} tactics, "
          f"{len(facts['techniques'])} techniques, {len(facts['mitigations'])} mitigations, "
          f"{facts['case_study_count']} case studies, {len(blob)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
