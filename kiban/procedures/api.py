"""JSON API of the procedures domain (mounted under /api/v1/ by kiban.api)."""

from ninja import Router

router = Router(tags=["procedures"])
