"""The harness: everything but the math, in rooms along the data flow; each imports only from the rooms below it.

    cli/        the command line: one module per command family, one error path (one line, exit 2)
    studies/    many runs or many steps: synthetic cases, parity, divergence, bench, sweeps
    training/   one twin × one task × one seed: the request, the run, the epoch loop, checkpoints, lockstep
    recipe/     what a config and a seed decide: config, task registry, initial weights, dropout masks
    data/       the data sets: sources, loaders, downloads, caches
    reports/    JSON in; Markdown, plots, CSV and the README out (imports recipe/ and below, never a
                study or training code: only the CLI decides "run, then report")

The ground floor, which every room may import and which imports nothing of the project (but errors):
paths.py (where files go), errors.py (BadInput, the one error type a command ends on), atomic_files.py
(atomic writes, locks), stopping.py (signals, children that end with their parent), twins.py (the registry
of twins), provenance.py (commit, versions, threads, memory).
TensorFlow (through the twins' registry), Ray and PyTorch are imported lazily, where used: they are heavy
optional libraries, not a way around an import circle.
"""
