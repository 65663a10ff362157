"""The ``tdx`` command line: keys, genesis, node, documents and status.

One click group per module (``keys``, ``genesis``, ``node``, ``doc``, ``status``), joined in
``main``. Shared edges live in ``_output`` (human or JSON output, errors to exits) and
``_params`` (``--json``, ``--node``, key files and passphrases).
"""
