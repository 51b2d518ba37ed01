"""Private helpers every layer may use: argument checks, the clock, secret redaction, Arrow
array helpers and the one formatter.
"""
