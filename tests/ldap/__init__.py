"""A real OpenLDAP server (slapd) and a seeded directory for the directory tests."""
