"""Evaluation of Hà Nam's 'friendly local government' pilot.

Layers, imported one way only::

    config -> data -> measures -> estimators -> inference -> scaling -> figures/report -> runner/cli
"""

__version__ = "0.1.0"
