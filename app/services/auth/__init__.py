"""Accounts, sessions and the password transport."""
