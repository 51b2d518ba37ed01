"""Tables: every table declared once in the schema, one page parsed into Arrow columns, the
merge across pages, dtypes, and the IncidentFrames container.
"""
