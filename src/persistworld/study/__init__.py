"""A blind paired human-preference study of two models' rollouts (FastAPI + SQLite, served by uvicorn)."""
