"""Two gloo processes on 127.0.0.1 give the one-process fit and clean evaluation."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp
from conftest import assert_pmfs_close
from safetensors.torch import load_file, save_file
from tiny_folder import CLASSES, tiny_bundle, write_folder

from regroup_core.engine.predictor import REGroup
from regroup_core.run.dist import all_reduce_sum, gather_rows, init_from_env, shard_indices, shutdown
from regroup_core.run.evaluate import evaluate_clean
from regroup_core.run.fit import fit_candidates, fit_statistics

PER_CLASS, BATCH, SEED = 3, 3, 11


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(folder: str, out: str, checkpoint: str | None, max_steps: int | None = None) -> dict[str, torch.Tensor]:
    """Fit (optionally in two goes, through checkpoints) and evaluate; the result as tensors."""
    bundle = tiny_bundle()
    candidates = fit_candidates(folder, bundle, seed=SEED)
    if max_steps is not None:  # a first, interrupted run
        first = fit_statistics(bundle, candidates, per_class=PER_CLASS, batch_size=BATCH, checkpoint=checkpoint,
                            checkpoint_every=1, max_steps=max_steps)
        assert not first.complete
    run = fit_statistics(bundle, candidates, per_class=PER_CLASS, batch_size=BATCH, checkpoint=checkpoint)
    classifiers = run.stats.to_classifiers(class_names=CLASSES, model_id="small", fingerprint=bundle.fingerprint,
                                           per_class=PER_CLASS, k=3)
    table = evaluate_clean(bundle, REGroup(bundle.model, classifiers), folder, batch_size=4,
                                       checkpoint=checkpoint)
    result = {f"pos/{n}": t for n, t in classifiers.pos.items()} | {f"neg/{n}": t for n, t in classifiers.neg.items()}
    result |= {"count": classifiers.class_count, "index": table.index, "label": table.label,
               "softmax_top": table.softmax_top, "softmax_prob": table.softmax_prob,
               "regroup_top": table.regroup_top, "regroup_borda": table.regroup_borda,
               "images_read": torch.tensor([run.images_read])}
    return result


def _worker(rank: int, port: int, folder: str, out: str, checkpoint: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
                       "RANK": str(rank), "LOCAL_RANK": str(rank), "GLOO_SOCKET_IFNAME": "lo"})
    torch.set_num_threads(1)
    ctx = init_from_env("cpu")
    try:
        assert ctx.world_size == 2 and ctx.rank == rank
        result = _run(folder, out, checkpoint, max_steps=2)
        # helpers: uneven shards gather back in order, sums reduce
        shard = shard_indices(7)
        gathered = gather_rows(torch.tensor(list(shard), dtype=torch.int64) * 10)
        result["gathered"] = gathered
        result["reduced"] = all_reduce_sum(torch.tensor([rank + 1.0], dtype=torch.float64))
        save_file({k: v.contiguous() for k, v in result.items()}, os.path.join(out, f"rank{rank}.safetensors"))
    finally:
        shutdown()


def test_two_gloo_processes_equal_one_process(tmp_path):
    folder = tmp_path / "data"
    write_folder(folder, n=40, seed=9)
    port = _free_port()
    mp.spawn(_worker, args=(port, str(folder), str(tmp_path), str(tmp_path / "ckpt")), nprocs=2, join=True)
    single = _run(str(folder), str(tmp_path), None)
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]
    for got in ranks:
        assert torch.equal(got["count"], single["count"]) and got["count"].tolist() == [PER_CLASS] * 4
        for key in single:
            if key.startswith(("pos/", "neg/")):
                # ranks run other batch sizes (see conftest.PMF_ATOL)
                assert_pmfs_close(got[key], single[key])
        for key in ("index", "label", "softmax_top", "regroup_top", "regroup_borda"):
            assert torch.equal(got[key], single[key]), key
        assert torch.allclose(got["softmax_prob"], single["softmax_prob"], atol=1e-6)
        assert got["gathered"].tolist() == [0, 10, 20, 30, 40, 50, 60]
        assert got["reduced"].item() == 3.0
    assert ranks[0]["index"].tolist() == list(range(40))
    # the 2-rank checkpoints were written per rank and resumed (2 steps were not redone)
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert [f[:15] for f in files] == ["eval-rank0-of-2", "eval-rank1-of-2", "fit-rank0-of-2-", "fit-rank1-of-2-"]
    assert int(ranks[0]["images_read"]) < int(single["images_read"])
