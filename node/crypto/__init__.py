"""Cryptographic recipes: the only package that imports ``cryptography.hazmat``."""
