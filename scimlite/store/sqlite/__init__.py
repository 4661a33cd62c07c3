"""The SQLite implementation of the store's database (store/database.py)."""
