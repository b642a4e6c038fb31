"""Print a staff JWT for the operator endpoints (an alternative to OPERATOR_TOKEN)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from triple.api.auth import operator_jwt


class Command(BaseCommand):
    help = "Print a staff JWT (claim staff=true) accepted by the operator endpoints. Signed with SECRET_KEY."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=float, default=12.0, help="lifetime in hours (default 12)")
        parser.add_argument("--name", default="operator", help="who the token is for (goes into its user_id)")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.SECRET_KEY.startswith("dev-only-"):
            # settings.py invents a key per process when none is set: the server could not verify this token.
            self.stderr.write("SECRET_KEY is not set (.env or environment): the server will reject this token.")
        self.stdout.write(operator_jwt(hours=options["hours"], name=options["name"]))
