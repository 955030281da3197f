"""Staff knowledge-base service (aiohttp): admin UI under /admin, JSON API under /api/v1."""
