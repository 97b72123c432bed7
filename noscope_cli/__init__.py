"""The ``noscope`` command line: the upper floor, above the engine (``noscope_core``) and the pipeline (``pipelines``).

Each subcommand is one module with ``register(subparsers)``; ``noscope_cli.main`` lists them.
"""
