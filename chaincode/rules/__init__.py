"""The consortium's rules as plain functions: no ledger, no clock, no identity parsing.

Contracts gather the facts from the ledger and the transaction, call these, and write what
they decide; the functions are unit-tested on their own.
"""
