"""Headless Chromium opens the HTML report files: every chart decodes, the text is there, and
the Chinese report is drawn with an installed CJK font (no tofu).

Needs Debian ``chromium`` and a CJK font (``fonts-noto-cjk``); skipped without them, failed
under CI=true. Screenshots go to ``$TEST_ARTIFACTS_DIR`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from nocd.config import Settings
from nocd.report import charts
from nocd.report.gather import gather
from nocd.report.labels import label
from nocd.report.model import Report, build_report
from nocd.report.render import render_html
from tests.conftest import REPO, require_service
from tests.integration import report_data as rd

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO / "test-artifacts"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# Written into the DOM on load, so that --dump-dom shows what the browser decoded.
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.querySelectorAll('img[data-chart]')];
  document.body.dataset.images = imgs
    .map(i => (i.complete && i.naturalWidth > 0)
      ? i.naturalWidth + 'x' + i.naturalHeight : 'broken')
    .join(' ');
  document.body.dataset.probe = 'done';
});
</script>"""


def _cjk_families() -> set[str]:
    fc = shutil.which("fc-list")
    if fc is None:
        return set()
    listed = subprocess.run([fc, ":lang=zh", "family"], capture_output=True, text=True).stdout
    return {name.strip() for line in listed.splitlines() for name in line.split(",")}


@pytest.fixture
def report(engine: Engine, db_backend: str) -> Iterator[Report]:
    if db_backend != "sqlite":
        pytest.skip("rendering does not depend on the database backend")
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            rd.build(session)
            inputs = gather(
                session, Settings(), day=date(2024, 6, 30), kind="month",
                now=int(rd.NOW.timestamp()),
            )  # fmt: skip
        outer.rollback()
    yield build_report(inputs)


@pytest.fixture
def chromium(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    require_service(CHROMIUM is not None, "chromium (Debian package chromium)")
    assert CHROMIUM is not None

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def _open(chromium, html: bytes, path: Path, screenshot: Path) -> str:
    """The page's DOM after load (with the probe), and a full-page-ish screenshot."""
    path.write_bytes(html.replace(b"</body>", PROBE.encode() + b"</body>"))
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    shot = chromium(
        f"--screenshot={screenshot}", "--window-size=1200,2400", path.as_uri()
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.exists()
    return dom.stdout


def _decoded_images(dom: str) -> list[str]:
    match = re.search(r'data-probe="done"', dom)
    assert match, "the page never finished loading"
    images = re.search(r'data-images="([^"]*)"', dom)
    assert images is not None
    return images.group(1).split()


def test_chromium_should_render_the_english_report_with_every_chart(report, chromium, tmp_path):
    dom = _open(chromium, render_html(report, "en"), tmp_path / "report-en.html",
                ARTIFACTS / "report-en.png")  # fmt: skip
    images = _decoded_images(dom)
    # trend charts for the network and both districts, error budget, stability, ticket sides
    assert len(images) == 6
    assert "broken" not in images, images
    assert all(int(size.split("x")[0]) >= 400 for size in images), images
    assert label("title", "en") in dom
    assert "dslam-1" in dom and "fibre cut" in dom
    with Image.open(ARTIFACTS / "report-en.png") as shot:
        colours = shot.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50, "the screenshot looks blank"


def test_chromium_should_render_the_chinese_report_with_a_cjk_font(report, chromium, tmp_path):
    families = _cjk_families()
    require_service(bool(families), "a CJK font (Debian package fonts-noto-cjk)")
    html = render_html(report, "zh-CN")
    font_family = re.search(rb"font-family: ([^;]+);", html)
    assert font_family is not None
    named = {f.strip().strip('"') for f in font_family.group(1).decode().split(",")}
    assert named & families, f"the page names none of the installed CJK fonts {sorted(families)}"
    # the charts were drawn with a CJK font too (a missing glyph would have warned → error)
    assert charts.cjk_font() in families
    dom = _open(chromium, html, tmp_path / "report-zh.html", ARTIFACTS / "report-zh-CN.png")
    images = _decoded_images(dom)
    assert len(images) == 6 and "broken" not in images, images
    assert label("title", "zh-CN") in dom
    assert 'lang="zh-CN"' in dom
    _assert_cjk_glyphs_render(chromium, tmp_path, sorted(named & families)[0])


def _assert_cjk_glyphs_render(chromium, tmp_path: Path, family: str) -> None:
    """The report's title drawn in ``family`` must not look like a row of missing glyphs.

    A missing glyph is drawn as the same box whatever the character, so the title's
    characters, cropped one by one, would be identical images; real glyphs differ.
    """
    text = label("title", "zh-CN")[:4]  # 网络服务
    cells = "".join(
        f'<span style="display:inline-block;width:80px;height:80px">{ch}</span>' for ch in text
    )
    page = tmp_path / "glyphs.html"
    page.write_text(
        f'<!DOCTYPE html><html lang="zh-CN"><body style="margin:0;background:#fff">'
        f'<div style="font-family:\'{family}\';font-size:64px;line-height:80px">{cells}</div>'
        "</body></html>",
        encoding="utf-8",
    )
    shot = ARTIFACTS / "report-zh-CN-glyphs.png"
    # (new headless mode renders nothing in very small windows: use a normal one, then crop)
    result = chromium(f"--screenshot={shot}", "--window-size=800,600", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(shot) as image:
        rgb = image.convert("L")
        crops = [rgb.crop((80 * i, 0, 80 * (i + 1), 80)).tobytes() for i in range(len(text))]
    assert all(any(px < 128 for px in crop) for crop in crops), "a character drew nothing"
    assert len(set(crops)) == len(text), "the characters render identically: missing glyphs"
