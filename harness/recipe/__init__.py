"""What a config and a seed decide, before any twin runs: config keys and their checks, the resolved config
and its digests, the task registry (data, model shape, batches), the initial weights and the dropout masks.

May import: data/ and the ground floor (paths, errors). Never: training/, studies/, reports/, cli/.
"""
