"""The HTML threat-model report, opened in a real headless Chromium and looked at."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from atlasgate.atlas.assets import load_assets
from atlasgate.atlas.controls import controls_from_config
from atlasgate.atlas.index import load_index
from atlasgate.atlas.report_html import STATUS_COLOURS, render_html
from atlasgate.atlas.threatmodel import build_threat_model

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "assets.yaml"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if path is None:
        problem = "chromium is not installed (Debian: apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install playwright)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    return str(path)


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    index = load_index()
    config = tmp_path / "gateway.yaml"
    config.write_text("""\
policy:
  include_defaults: false
  rules:
    - {id: stop-extraction, condition: 'api.request_count > 200', action: BLOCK,
       atlas: [AML.T0024.002]}
""")
    model = build_threat_model(load_assets(EXAMPLE, index), controls_from_config(config, index),
                               index)
    report = tmp_path / "report.html"
    report.write_text(render_html(model), encoding="utf-8")
    status = model.technique_status()
    expected_cells = sum(
        1 for tactic in index.ordered_tactics()
        for t in index.techniques_in(tactic.id, subtechniques=True)
        if not t.parent or t.id in status)
    shot = tmp_path / "report.png"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(report.as_uri())
            assert page.title() == f"Threat model: {model.system}"
            columns = page.locator("#matrix .tactic")
            assert columns.count() == len(index.tactics)
            boxes = [columns.nth(i).bounding_box() for i in range(columns.count())]
            assert all(b is not None and b["width"] > 50 for b in boxes)
            xs = [b["x"] for b in boxes]
            assert xs == sorted(xs)                          # side by side, in matrix order
            assert len({round(b["y"]) for b in boxes}) == 1  # one row
            assert page.locator("#matrix .tech").count() == expected_cells

            def colour(tid: str) -> str:
                return page.locator(f'#matrix .tech[data-technique="{tid}"]').first.evaluate(
                    "el => getComputedStyle(el).backgroundColor")

            assert status["AML.T0024.002"] == "block"
            assert colour("AML.T0024.002") == _rgb(STATUS_COLOURS["block"])
            gap = next(tid for tid, s in status.items() if s == "none")
            assert colour(gap) == _rgb(STATUS_COLOURS["none"])
            assert colour("AML.T0000") == _rgb(STATUS_COLOURS["n/a"])
            rows = page.locator("#gaps tr").count() - 1
            assert rows == min(20, len(model.ranked_gaps()))
            assert page.locator("#gap-count").inner_text() == str(len(model.ranked_gaps()))
            page.screenshot(path=str(shot), full_page=True)

            # Look at the pixels: decode the screenshot in the browser and count colours.
            data = base64.b64encode(shot.read_bytes()).decode()
            page.set_content(f'<img id="s" src="data:image/png;base64,{data}">')
            page.wait_for_function("document.getElementById('s').complete")
            stats = page.evaluate("""() => {
                const img = document.getElementById('s');
                const c = document.createElement('canvas');
                c.width = img.naturalWidth; c.height = img.naturalHeight;
                const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
                const px = ctx.getImageData(0, 0, c.width, c.height).data;
                const seen = new Set(); let coloured = 0, n = 0;
                for (let i = 0; i < px.length; i += 4 * 7) {
                    const [r, g, b] = [px[i], px[i + 1], px[i + 2]];
                    seen.add((r << 16) | (g << 8) | b); n++;
                    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
                }
                return {w: c.width, h: c.height, colours: seen.size, coloured: coloured / n};
            }""")
        finally:
            browser.close()
    assert stats["w"] >= 1600
    assert stats["h"] > 1000            # the full page, with the per-asset tables
    assert stats["colours"] > 50        # text, matrix colours, tables: not a blank page
    assert stats["coloured"] > 0.01     # the coloured matrix is there
