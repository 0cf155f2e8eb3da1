"""Service layer between the HTTP views and the engine: operation orchestration and the answer cache."""
