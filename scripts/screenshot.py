"""Produce docs/screenshot-chat.png: the chat page answering a Korean question, with a source and an image.

Starts a throwaway stack with the shared launcher (tests/e2e/stack.py), drives it in headless Chromium
(/usr/bin/chromium through Playwright) and writes the PNG that the README embeds.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot-chat.png] [--ui-url http://127.0.0.1:8501]

With --ui-url it photographs an already running UI (e.g. `make run`) instead of starting a stack.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.browser import ask, chromium, new_page, open_sources, wait_for_app  # noqa: E402
from tests.e2e.stack import Stack  # noqa: E402

QUESTION = "혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?"


def photograph(ui_url: str, out: Path) -> None:
    with chromium() as browser:
        page = new_page(browser, width=1440, height=1500)
        page.goto(ui_url)
        wait_for_app(page)
        ask(page, QUESTION)
        open_sources(page)
        # Show the question, the answer, its images and the first sources together. The chat view keeps
        # sticking to the bottom while late content settles, so scroll until the question stays on top.
        question = page.locator('[data-testid="stChatMessage"]').nth(-2)
        for _ in range(10):
            question.evaluate("el => el.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(700)
            if 0 <= question.evaluate("el => el.getBoundingClientRect().top") < 200:
                break
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot-chat.png")
    parser.add_argument("--ui-url", help="photograph this running UI instead of starting a stack")
    args = parser.parse_args()
    if args.ui_url:
        photograph(args.ui_url, args.out)
    else:
        with Stack(worker=False, ui=True) as stack:
            photograph(stack.ui_url, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
