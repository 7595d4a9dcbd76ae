"""The studio in a real browser: Debian's headless Chromium driven by Playwright, against the real
app (tiny model). A person's path: type a prompt, generate, brush a region, lock it, repaint,
export the GIF, reload the page and find the session in the history.

Skipped only where Chromium or Playwright is missing and STUDIO_REQUIRE_BROWSER is not set;
.ci/run sets it (and installs Chromium), so CI cannot skip it silently."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import AppConfig, build_app, launch_options
from app.ui import OWNER_STORAGE_KEY
from studio_core.state import TokenFrame
from studio_core.store import SessionStore
from studio_core.store_schema import decode_frame
from studio_core.studio import Studio

from servers import launch

CHROMIUM = Path("/usr/bin/chromium")
# From the field notes: what headless Chromium needs in a container, and nothing that phones out.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-extensions"]
PROMPT = "a large red circle in the top left"
WAIT_MS = 120_000  # generous: CI machines are shared


def browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install playwright; never `playwright install`)"
    return None


@pytest.fixture(scope="module")
def chromium():
    reason = browser_missing()
    if reason:
        if os.environ.get("STUDIO_REQUIRE_BROWSER"):
            pytest.fail(f"STUDIO_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def studio_app(tiny_studio, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    store = SessionStore(root / "studio.db")
    # A smaller canvas than the app's default: headless Chromium draws it in software.
    config = AppConfig(exports_dir=root / "exports", picture_size=256)
    # Six stages by default: the page's Stages slider starts at the studio's default.
    demo = build_app(Studio(tiny_studio.models, tiny_studio.settings(stages=6)), store, config)
    port = launch(demo, **launch_options(config))  # the real page: its CSS too
    yield f"http://127.0.0.1:{port}/", root / "studio.db", config
    demo.close()
    store.close()


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url, wait_until="load")  # never "networkidle": Gradio keeps a heartbeat open
    page.get_by_role("button", name="Generate", exact=True).wait_for()
    # The browser token is made on load; the history is read with it.
    page.wait_for_function(f"() => localStorage.getItem({OWNER_STORAGE_KEY!r}) !== null")
    return context, page


def status_says(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#status")).to_contain_text(text, timeout=WAIT_MS)


def brush_stroke(page, points: list[tuple[float, float]]) -> None:
    """Paint on the selection canvas along `points`, given as fractions of the picture."""
    editor = page.locator("#selection")
    editor.scroll_into_view_if_needed()
    editor.get_by_role("button", name="Brush").first.click()
    canvas = editor.locator("canvas").first
    box = canvas.bounding_box()
    # The picture is centred in the canvas and as tall as the smaller side (fixed square canvas).
    side = min(box["width"], box["height"]) * 0.9
    left, top = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    (x0, y0), *rest = [(left + fx * side, top + fy * side) for fx, fy in points]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in rest:
        page.mouse.move(x, y, steps=3)  # each event redraws a software-rendered canvas: keep them few
    page.mouse.up()


def stored_session(db: Path, prompt: str) -> tuple[str, list[TokenFrame]]:
    """The session with that prompt, read straight from the app's database: the browser's token
    is encrypted in its local storage, so the test looks the way an administrator would (this
    throwaway database holds one such session, on one branch)."""
    with sqlite3.connect(db) as conn:
        session_id, branch_id = conn.execute(
            "SELECT id, current_branch_id FROM studio_sessions WHERE prompt = ?", (prompt,)).fetchone()
        rows = conn.execute("SELECT data, stage, event, seed, prompt FROM studio_frames WHERE branch_id = ? "
                            "ORDER BY idx", (branch_id,)).fetchall()
    frames: list[TokenFrame] = []
    for data, stage, event, seed, frame_prompt in rows:  # a frame without a prompt has the one before
        frames.append(decode_frame(data, stage, event, seed, frame_prompt or frames[-1].prompt))
    return session_id, frames


def test_a_person_generates_edits_exports_and_finds_the_session_again(chromium, studio_app, tmp_path):
    url, db, config = studio_app
    context, page = open_page(chromium, url)
    try:
        page.locator("#prompt textarea").fill(PROMPT)
        page.get_by_role("button", name="Generate", exact=True).click()
        status_says(page, "finished")
        status_says(page, "Stage 6 / 6")
        # The page's picture is a crisp PNG at the configured size.
        src = page.locator("#picture img").get_attribute("src")
        assert src and src.endswith(".png")

        # Brush the top-left corner of the picture, then lock it.
        page.wait_for_timeout(500)  # the brush canvas refreshes after the generation ends
        brush_stroke(page, [(0.05, 0.05), (0.3, 0.3)])
        page.get_by_role("button", name="Lock", exact=True).click()
        status_says(page, "locked")
        session_id, frames = stored_session(db, PROMPT)
        locked = frames[-1].locked
        assert locked.any() and locked[0, 0] and not locked[-1, -1]

        # Brush across the right side and repaint it under another prompt.
        page.wait_for_timeout(500)
        brush_stroke(page, [(0.6, 0.1), (0.9, 0.9)])
        page.get_by_label("Region prompt (optional, for Repaint)").fill("a small blue square")
        page.get_by_role("button", name="Repaint", exact=True).click()
        status_says(page, "finished · repainted")  # "repainted" alone shows from the first repaint stage
        _, frames = stored_session(db, PROMPT)
        repainted = [f for f in frames if f.event == "repaint"]
        assert repainted and all(f.prompt == "a small blue square" for f in repainted)
        np.testing.assert_array_equal(frames[-1].ids[locked], frames[6].ids[locked])  # locked: untouched
        assert (frames[-1].ids != frames[6].ids).any()  # and the repaint changed something

        # Export the generation-order GIF: a link appears, the file is in the export folder.
        page.get_by_role("button", name="Export GIF").click()
        link = page.locator("#download a").first
        link.wait_for()
        assert ".gif" in (link.get_attribute("href") or "")
        gifs = sorted(config.exports_dir.glob("studio-gif-*.gif"))
        assert len(gifs) == 1
        with Image.open(gifs[0]) as gif:
            assert gif.n_frames == len(frames) - 1  # one per frame after the blank start

        # Reload: the history lists the session (same browser, same token), and it opens.
        page.reload(wait_until="load")
        page.get_by_role("button", name="Generate", exact=True).wait_for()
        history = page.locator("#history")
        history.get_by_text(PROMPT[:20]).first.wait_for()
        history.locator("img").first.click()
        from playwright.sync_api import expect

        expect(page.get_by_label("Session id")).to_have_value(session_id, timeout=WAIT_MS)
        page.get_by_role("button", name="Open", exact=True).click()
        status_says(page, f"session {session_id[:8]}")
        status_says(page, "repainted")
        page.screenshot(path=str(tmp_path / "studio.png"), full_page=True)
    finally:
        context.close()
