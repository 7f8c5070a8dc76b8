"""refengine: the reference event-sourced workflow engine (contract v1 with v1.1).

Modules: workflow (validation), eventlog (the durable log), state (pure replay),
supervisor (process groups, the held command), scheduler (the event loop), outputs
(exactly-once publishing), lock (single writer), cli (commands and exit codes).
Standard library only; it imports nothing from the harness that judges it.
"""
