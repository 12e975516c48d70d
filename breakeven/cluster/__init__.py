"""Clusters: the servers' commands (``roles``), local clusters of processes on 127.0.0.1
(``launcher``, ``raylocal``) and the address of an external one (``external``)."""
