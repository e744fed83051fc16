"""One twin × one task × one seed: the request that describes a run, the run itself and its record, the epoch
loop and evaluation, per-epoch checkpoints, and twins trained in lockstep (for the studies).

May import: recipe/, data/ and the ground floor (paths, errors, atomic_files, twins, provenance).
Never: studies/, reports/, cli/.
"""
