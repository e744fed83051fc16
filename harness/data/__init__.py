"""The data sets: one table of sources (sources.py: addresses, checksums, how to get each), one loader per set
with one face (NAME, find, load, describe; catalogue.py lists them), downloads, processed caches, and the
`make data` table. Loaders read the upstream formats and cache what they build.

May import: the ground floor (paths, errors, atomic_files). Never: recipe/, training/, studies/, reports/, cli/.
"""
