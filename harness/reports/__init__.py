"""JSON in; Markdown, plots, CSV and the README out: the comparison of one config's runs and its learning
curves, the runs as tidy data (runs.csv), the parity, divergence, bench and sweep pages, and the README's
result section.

May import: recipe/ (config digests, the task registry) and the ground floor. Never: studies/, training/,
cli/: a report reads what runs wrote, and only the command line decides to run and then report.
"""
