"""scimlite: a SCIM 2.0 service provider for users and teams over one SQLite file."""

__version__ = "0.1.0"
