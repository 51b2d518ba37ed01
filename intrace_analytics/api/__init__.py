"""The API layer: client settings, the one GET with retries, offset pagination, pages and their
bodies. Imports nothing else of the package but its exceptions.
"""

import logging

# A library's loggers reach no console unless the application configures logging: without
# a handler, Python's last resort would print every warning (a retry) to stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())
