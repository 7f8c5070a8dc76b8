"""refengine: the reference event-sourced workflow engine for TASK.md (contract v1).

Standard library only; imports nothing from the harness that judges it.
"""
