"""Thin SCIM endpoint handlers: parse → store → render."""
