"""Terminology engine: plain Python over loaded content (no Flask, no request objects)."""
