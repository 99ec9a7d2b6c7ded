"""HTTP API: FastAPI routers, their schemas and dependencies. Assembled only by ``nocd.app``."""
