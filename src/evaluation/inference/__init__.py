"""Inference that holds with few treated clusters: bootstrap, CR2, jackknife, randomisation."""
