"""Runs: the data loops over the engine, for one process or many (torchrun), with one result.

* :mod:`.fit` — the fit (candidates in one global order → sufficient statistics → classifiers
  and k), checkpointed and resumable;
* :mod:`.evaluate` — per-layer accuracy, clean evaluation tables, batched prediction;
* :mod:`.dist` — torch.distributed collectives (with timeouts) that are free in one process;
* :mod:`.checkpoint`, :mod:`.precision`, :mod:`.estimate`, :mod:`.progress`.
"""
