"""A reference webhook consumer for scimlite (see README.md here)."""
