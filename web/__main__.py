"""``python -m web``: serve the staff service (default port 8000)."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from web.app import init_app

parser = argparse.ArgumentParser(description="杭州市民服务助手：工作人员知识库服务")
parser.add_argument("--host", default="0.0.0.0")
parser.add_argument("--port", type=int, default=8000)
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
web.run_app(init_app(), host=args.host, port=args.port, access_log=None)
