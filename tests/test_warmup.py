"""semspace.warmup (run by `make setup`): every compiled kernel runs on its tiny corpus."""

from __future__ import annotations

import numpy as np
import pytest

from semspace import neighbors, pairs, warmup


def test_warmup_runs_every_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    """Every top-level kernel of semspace._kernel (the parallel ones; the rest are inlined into
    them) has a compiled signature after the warm-up: a new kernel left out of it would compile
    inside the first dbt build or analysis step instead."""
    from numba.core.registry import CPUDispatcher

    from semspace import _kernel

    warmup.main()
    assert "compiled kernels ready" in capsys.readouterr().out
    kernels = {
        name: f for name, f in vars(_kernel).items() if isinstance(f, CPUDispatcher) and f.targetoptions.get("parallel")
    }
    assert len(kernels) >= 6
    assert [name for name, f in kernels.items() if not f.signatures] == []
    from analysis import _bulge

    assert _bulge._chase.signatures  # MDS's bulge chasing (analysis.mds)


def test_the_tiny_corpus_agrees_between_the_two_layouts() -> None:
    """The warm-up's two layouts of one corpus (the neighbour index, the pair postings) hold the
    same sets: the pair table's intersections are the neighbour kernel's."""
    index, postings = warmup.tiny_corpus()
    assert index.n_images == postings.n_images and index.n_tokens[-1] == 0  # an empty set too
    columns = pairs.block_columns(postings, 1, 0, postings.n_images - 1)
    matrix = neighbors.scores(index, index.image_ids, "symmetric_difference")
    i = np.searchsorted(index.image_ids, columns["image_i"])
    j = np.searchsorted(index.image_ids, columns["image_j"])
    sd = columns["n_i"] + columns["n_j"] - 2 * columns["n_intersection"]
    assert np.array_equal(matrix[i, j], sd.astype(np.float64))
