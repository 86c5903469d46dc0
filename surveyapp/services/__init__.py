"""Service functions shared by views, CLI commands and the demo: explicit arguments, no commits."""
