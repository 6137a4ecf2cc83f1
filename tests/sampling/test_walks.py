"""Random walks drawn from torch's generator: the steps DGL's walk takes, the same draws in
any process and on any thread."""

import subprocess
import sys
import threading

import pytest
import torch

from pinsage_dgl.sampling.walks import random_walk
from tests.conftest import bipartite

# pins 0, 1, 2; board 0 holds pins 0 and 1, board 1 holds pins 1 and 2; pin 3 saved nothing
GRAPH_EDGES = [(0, 0), (1, 0), (1, 1), (2, 1)]
PIN_BOARD_PIN = ["saved_to", "contains"]


def graph():
    g = bipartite(GRAPH_EDGES)
    g.add_nodes(1, ntype="pin")  # pin 3: no saves
    return g


def test_each_step_follows_an_edge_of_its_type_and_a_dead_end_ends_the_walk():
    g = graph()
    traces = random_walk(g, torch.tensor([0, 1, 2, 3] * 50), PIN_BOARD_PIN * 2)
    assert traces.shape == (200, 5) and traces.dtype == torch.int64
    boards = {0: {0}, 1: {0, 1}, 2: {1}}
    pins = {0: {0, 1}, 1: {1, 2}}
    for trace in traces.tolist():
        if trace[0] == 3:  # no saves: only the start
            assert trace == [3, -1, -1, -1, -1]
            continue
        for step in range(1, 5):
            edges = boards if step % 2 else pins
            assert trace[step] in edges[trace[step - 1]]


def test_steps_are_uniform_or_follow_the_weights_and_a_zero_weight_is_never_walked():
    g = graph()
    n = 40_000
    torch.manual_seed(0)
    # from pin 1: board 0 or 1 with probability 1/2 each
    boards = random_walk(g, torch.full((n,), 1), ["saved_to"])[:, 1]
    assert abs(float((boards == 0).float().mean()) - 0.5) < 0.01
    # weights 3 : 1 on pin 1's saves, and board 1 never reaches pin 2
    g.edges["saved_to"].data["w"] = torch.tensor([1.0, 3.0, 1.0, 1.0])
    g.edges["contains"].data["w"] = torch.tensor([1.0, 1.0, 1.0, 0.0])
    src, dst = g.edges(etype="contains")
    zero = int(torch.nonzero(g.edges["contains"].data["w"] == 0)[0])
    traces = random_walk(g, torch.full((n,), 1), PIN_BOARD_PIN, prob="w")
    assert abs(float((traces[:, 1] == 0).float().mean()) - 0.75) < 0.01
    on_board = traces[:, 1] == src[zero]
    assert not bool((traces[on_board, 2] == dst[zero]).any())


def test_a_restart_ends_each_step_with_its_probability():
    torch.manual_seed(0)
    traces = random_walk(
        graph(), torch.zeros(20_000, dtype=torch.int64), PIN_BOARD_PIN * 2, restart_prob=0.3
    )
    alive = (traces >= 0).float().mean(0)
    expected = torch.tensor([0.7**k for k in range(5)])
    assert torch.allclose(alive, expected, atol=0.01)
    with pytest.raises(ValueError, match=r"restart_prob must be in \[0, 1\), got 1.0"):
        random_walk(graph(), torch.zeros(1, dtype=torch.int64), PIN_BOARD_PIN, restart_prob=1.0)


def seeded_walks() -> list[list[int]]:
    torch.manual_seed(7)
    return random_walk(graph(), torch.arange(3).repeat(4), PIN_BOARD_PIN * 3).tolist()


def test_a_seed_gives_the_same_walks_on_another_thread_and_in_another_process():
    here = seeded_walks()
    elsewhere: list = []
    thread = threading.Thread(target=lambda: elsewhere.append(seeded_walks()))
    thread.start()
    thread.join()
    assert elsewhere == [here]
    code = "from tests.sampling.test_walks import seeded_walks\nprint(seeded_walks())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == str(here)


def test_saved_walk_arrays_walk_as_the_graph_they_came_from(tmp_path):
    from pinsage_dgl.sampling.neighbors import importance_neighbors
    from pinsage_dgl.sampling.walks import WalkGraph

    g = graph()
    g.edges["saved_to"].data["w"] = torch.tensor([1.0, 3.0, 1.0, 2.0])
    g.edges["contains"].data["w"] = torch.tensor([1.0, 1.0, 2.0, 0.0])
    for prob in (None, "w"):
        WalkGraph.of(g).save(tmp_path / f"walks-{prob}", PIN_BOARD_PIN, prob=prob)
        opened = WalkGraph.open(tmp_path / f"walks-{prob}")
        assert opened.prob == prob and opened.num_nodes("pin") == 4
        assert opened.num_edges("saved_to") == 4
        assert opened.out_degrees(torch.tensor([0, 1, 3]), "saved_to").tolist() == [1, 2, 0]
        starts = torch.arange(4).repeat(50)
        torch.manual_seed(3)
        expected = random_walk(g, starts, PIN_BOARD_PIN * 2, prob=prob)
        torch.manual_seed(3)
        assert torch.equal(random_walk(opened, starts, PIN_BOARD_PIN * 2, prob=prob), expected)
        neighbors = {}
        for name, walked in (("graph", g), ("saved", opened)):
            torch.manual_seed(5)
            neighbors[name] = importance_neighbors(
                walked, torch.arange(4), 2, 20, popularity_penalty=0.5, prob=prob
            )
        assert all(map(torch.equal, neighbors["graph"], neighbors["saved"]))
    # node ids stored as int32 (half the pages a walker reads); the arrays are mapped
    indices = opened.step("contains", "w")[1]
    assert indices.dtype == torch.int32
    # a save has the weights it was saved with only
    with pytest.raises(ValueError, match=r"walks-w: walk arrays of 'saved_to' with weights None"):
        random_walk(opened, starts, PIN_BOARD_PIN)
    with pytest.raises(FileNotFoundError, match="not a saved set of walk arrays"):
        WalkGraph.open(tmp_path)


def test_saving_walk_arrays_again_replaces_them_whole(tmp_path):
    from pinsage_dgl.sampling.walks import WalkGraph

    g = graph()
    WalkGraph.of(g).save(tmp_path / "walks", PIN_BOARD_PIN)
    other = bipartite([(0, 0), (1, 0)])
    WalkGraph.of(other).save(tmp_path / "walks", PIN_BOARD_PIN)
    assert WalkGraph.open(tmp_path / "walks").num_edges("saved_to") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walks"]  # no temporary left


def test_a_graphs_walk_arrays_do_not_keep_it_alive():
    import gc
    import weakref

    g = graph()
    random_walk(g, torch.arange(3), PIN_BOARD_PIN)  # builds and keeps its arrays
    freed = weakref.ref(g)
    del g
    gc.collect()
    assert freed() is None


def test_walk_arrays_keep_the_graphs_id_type_and_walk_alike():
    from pinsage_dgl.sampling.walks import WalkGraph

    wide = graph()
    narrow = graph().int()  # ids as int32, as PinBoardGraph stores them where they fit
    assert WalkGraph.of(narrow).step("contains")[1].dtype == torch.int32  # no int64 copy
    starts = torch.arange(4).repeat(20)
    walks = []
    for g in (wide, narrow):
        torch.manual_seed(11)
        walks.append(random_walk(g, starts, PIN_BOARD_PIN * 2))
    assert walks[1].dtype == torch.int64 and torch.equal(walks[0], walks[1])
