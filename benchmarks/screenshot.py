"""The README's picture of the studio: the real app on the bundled models (opening on emoji-v1, as
`python app.py` does), driven in headless Chromium like a person would (generate, brush, lock,
repaint: emoji-v1's own edit example, lock the dog and repaint the sun's cell with a rainbow),
then photographed.

    python benchmarks/screenshot.py [--out assets/studio_screenshot.png]

Needs Debian's chromium (/usr/bin/chromium) and the playwright package (never `playwright install`).
Uses a throwaway database and export folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

PROMPT = "a large dog in the top left and a small sun on the right on a blue background"
REPAINT_PROMPT = "a large dog in the top left and a small rainbow on the right on a blue background"
SEED = 0
VIEWPORT = {"width": 1366, "height": 768}  # a laptop screen: what a person sees without scrolling


def zigzag(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    """A brush path back and forth over a box (fractions of the picture): it covers the box's cells."""
    rows = [y0 + (y1 - y0) * i / 4 for i in range(5)]
    return [(x0 if i % 2 == 0 else x1, y) for i, y in enumerate(rows)] + [(x1, y1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "assets" / "studio_screenshot.png")
    args = parser.parse_args(argv)

    from playwright.sync_api import expect, sync_playwright

    from app import AppConfig, build_app, launch_options
    from servers import launch
    from studio_core.store import SessionStore
    from studio_core.studio import Studio
    from test_browser import CHROMIUM, CHROMIUM_ARGS, brush_stroke, open_select_tab, timeline_has

    work = Path(tempfile.mkdtemp(prefix="studio-shot-"))
    config = AppConfig(exports_dir=work / "exports", default_model="emoji-v1")
    studios = [Studio.load(REPO / "checkpoints" / name, cpu=True) for name in ("emoji-v1", "shapes-v1")]
    demo = build_app(studios, SessionStore(work / "studio.db"), config)
    port = launch(demo, **launch_options(config))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
            page.get_by_role("button", name="Generate", exact=True).wait_for()
            page.locator("#prompt textarea").fill(PROMPT)
            page.get_by_label("Randomize seed").uncheck()
            page.get_by_label("Seed", exact=True).fill(str(SEED))
            page.get_by_role("button", name="Generate", exact=True).click()
            expect(page.locator("#status")).to_contain_text("finished", timeout=120_000)
            timeline_has(page, 17)
            open_select_tab(page)
            brush_stroke(page, zigzag(0.04, 0.04, 0.30, 0.30))  # the dog's cell: lock it
            page.get_by_role("button", name="Lock", exact=True).click()
            expect(page.locator("#status")).to_contain_text("locked", timeout=120_000)
            timeline_has(page, 18)
            open_select_tab(page)
            page.wait_for_timeout(2000)  # the canvas reloads the locked frame (512 px) before a stroke
            brush_stroke(page, zigzag(0.70, 0.37, 0.96, 0.63))  # the sun's cell: repaint it
            page.get_by_label("Region prompt (optional, for Repaint)").fill(REPAINT_PROMPT)
            page.get_by_role("button", name="Repaint", exact=True).click()
            expect(page.locator("#status")).to_contain_text("finished · repainted", timeout=120_000)
            page.get_by_label("Mark new (white) / revised (red) / locked (blue)").check()
            page.wait_for_timeout(1500)
            page.evaluate("window.scrollTo(0, 0)")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=False)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
