"""The API layer: client settings, the one GET with retries, offset pagination, pages and their
bodies. Imports nothing else of the package but its exceptions.
"""
