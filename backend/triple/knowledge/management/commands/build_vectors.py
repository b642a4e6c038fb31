"""`python manage.py build_vectors`: rebuild the vector index from the data directory, with a progress bar."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from triple.core.errors import ApplicationError
from triple.knowledge import selectors, services
from triple.knowledge.models import IndexBuild


class Command(BaseCommand):
    help = "Scan DATA_DIR, embed what changed, and activate a new index build atomically."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--if-missing", action="store_true", help="Do nothing when an index is already active.")
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_missing"] and selectors.active_build() is not None:
            build = selectors.active_build()
            assert build is not None
            self.stdout.write(f"Index build {build.id} is active ({build.embedding_model}); nothing to do.")
            return
        try:
            build = services.index_build_create(reason="cli")
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        bar = None if options["quiet"] else tqdm(total=0, unit="item", dynamic_ncols=True)
        stage = {"name": ""}

        def progress(current: IndexBuild) -> None:
            if bar is None:
                return
            if current.stage != stage["name"]:
                stage["name"] = current.stage
                bar.set_description(current.stage, refresh=False)
                bar.reset(total=current.progress_total)
            bar.n = current.progress_done
            bar.refresh()

        try:
            build = services.index_build_run(build_id=build.id, on_progress=progress)
        except Exception as exc:
            raise CommandError(f"Build {build.id} failed: {exc}. The previous index stays active.") from None
        finally:
            if bar is not None:
                bar.close()
        for failure in build.failures:
            self.stderr.write(f"skipped {failure['document']}: {failure['error']}")
        self.stdout.write(self.style.SUCCESS(
            f"Build {build.id} {build.status}: {build.counts.get('chunks', 0)} chunks, "
            f"{build.counts.get('embedded', 0)} embedded, {build.counts.get('copied', 0)} reused, "
            f"{len(build.failures)} documents failed, {build.counts.get('seconds', 0)} s."
        ))
