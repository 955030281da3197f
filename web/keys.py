"""Typed application keys."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from knowledge.ratelimit import RateLimiter

SESSIONMAKER = web.AppKey("sessionmaker", sessionmaker[Session])
FEEDBACK_LIMITER = web.AppKey("feedback_limiter", RateLimiter)
LOGIN_LIMITER = web.AppKey("login_limiter", RateLimiter)
BOOTSTRAP_MESSAGE = web.AppKey("bootstrap_message", str)
OPENAPI_JSON = web.AppKey("openapi_json", bytes)  # web/openapi.yml as JSON, made once by init_app
