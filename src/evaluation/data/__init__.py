"""Read, validate and harmonise the input data (registry, rollout, ballots, admin, costs)."""
