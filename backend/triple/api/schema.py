"""OpenAPI generation: component names that stay unique although every view nests its own
`InputSerializer` / `OutputSerializer` (the house style). Without this, drf-spectacular gives every nested
`OutputSerializer` the one component name `Output`, and all but one endpoint document the wrong body."""
from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema


class TripleAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer: Any, direction: Any) -> str:
        cls = type(serializer)
        outer = cls.__qualname__.split(".")
        if len(outer) > 1:  # nested in a view: ChatApi.OutputSerializer -> ChatOutputSerializer
            owner = outer[-2].removesuffix("Api").removesuffix("View")
            return f"{owner}{cls.__name__}"
        return str(cls.__name__)
