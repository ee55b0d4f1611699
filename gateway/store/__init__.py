"""Durable storage of interactions and their delivery jobs."""
