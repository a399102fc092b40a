"""The scaling decision: predicted effects, cost-effectiveness, budget plans, next-phase design."""
