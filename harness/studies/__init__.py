"""Many runs or many steps: the synthetic cases (one type for parity and bench), parity of the twins' numbers,
the divergence of their trajectories, the bench (its orchestration and its worker process), the step
profile, and sweeps (their pools and their worker process). They compute and return JSON-ready reports;
rendering them is reports/'s, and deciding to render the CLI's.

May import: training/, recipe/, data/ and the ground floor. Never: reports/, cli/.
"""
