"""The web console: a second surface over the same store, rendered with Jinja.

`mount.setup_console(app)` wires it into the application; `views` holds the pages,
`middleware` the session, CSRF, security headers and error pages, `session` the sessions.
"""
