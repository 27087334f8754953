"""One module of words per language; every module has the same keys (a test checks)."""
