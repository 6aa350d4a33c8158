"""The inferer's helpers: compiled networks are kept one at a time."""

from __future__ import annotations

import gc
import weakref

import torch

from monai_unet2015.inferers.precision import CompiledNetworks


def test_the_same_network_compiles_once():
    networks, net = CompiledNetworks(), torch.nn.Linear(2, 2)
    assert networks(net) is networks(net)


def test_a_network_replaced_by_another_is_freed():
    """A compiled module holds its network (``_orig_mod``); keeping every one would keep every network alive."""
    networks, first = CompiledNetworks(), torch.nn.Linear(2, 2)
    networks(first)
    gone = weakref.ref(first)
    del first
    networks(torch.nn.Linear(2, 2))
    gc.collect()
    assert gone() is None


def test_a_plain_callable_runs_as_it_is():
    assert CompiledNetworks()(abs) is abs
