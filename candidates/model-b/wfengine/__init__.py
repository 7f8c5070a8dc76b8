"""wfengine: an event-sourced workflow engine.

Modules:
    events     -- event types and their (de)serialization
    store      -- the append-only JSONL event store
    workflow   -- workflow definition loading and validation
    executor   -- spawning and stopping step processes
    scheduler  -- the scheduling loop, driven by events
    cli        -- the command line interface
"""

__version__ = "1.0.0"
