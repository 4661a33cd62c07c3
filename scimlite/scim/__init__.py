"""The SCIM 2.0 protocol surface: wire models, schemas, filters, PATCH and handlers."""
