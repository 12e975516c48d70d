"""Clusters: the servers' commands and health probes (``roles``), local clusters of processes on
127.0.0.1 (``launcher``; Ray's nodes through ``raylocal``) and the ``breakeven cluster`` commands
(``cli``)."""
