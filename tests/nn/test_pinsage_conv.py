import dgl
import pytest
import torch
from torch.nn import functional as F

from pinsage_dgl.nn import PinSageConv


def test_matches_hand_computed_importance_pooling():
    # destination 0 has neighbours 1 (alpha 0.75) and 2 (alpha 0.25); destination 1 none
    block = dgl.create_block(([2, 3], [0, 0]), num_src_nodes=4, num_dst_nodes=2)
    block.edata["weight"] = torch.tensor([0.75, 0.25])
    h = torch.randn(4, 3)
    conv = PinSageConv(3, 5, 4)
    z = conv(block, h)
    n0 = 0.75 * F.relu(conv.Q(h[2])) + 0.25 * F.relu(conv.Q(h[3]))
    expected0 = F.normalize(F.relu(conv.W(torch.cat([h[0], n0]))), dim=0)
    expected1 = F.normalize(F.relu(conv.W(torch.cat([h[1], torch.zeros(5)]))), dim=0)
    assert torch.allclose(z[0], expected0, atol=1e-6)
    assert torch.allclose(z[1], expected1, atol=1e-6)
    # importances need not sum to one: pooling divides by their sum
    assert torch.allclose(conv(block, h, edge_weight=torch.tensor([3.0, 1.0])), z, atol=1e-6)


def test_output_is_unit_norm_and_repr_and_errors():
    block = dgl.create_block(([1], [0]), num_src_nodes=2, num_dst_nodes=1)
    block.edata["weight"] = torch.ones(1)
    conv = PinSageConv(2, 2, 3)
    conv.W.bias.data.fill_(1.0)  # keep the ReLU output non-zero
    assert conv(block, torch.randn(2, 2)).norm(dim=1).item() == pytest.approx(1.0)
    assert repr(conv).splitlines() == [
        "PinSageConv(",
        "  2, 2, 3, normalize=True",
        "  (Q): Linear(in_features=2, out_features=2, bias=True)",
        "  (W): Linear(in_features=4, out_features=3, bias=True)",
        ")",
    ]
    with pytest.raises(ValueError, match="expected 2 input features, got 5"):
        conv(block, torch.randn(2, 5))
    with pytest.raises(ValueError, match="in_feats"):
        PinSageConv(0, 2, 2)


def test_feature_pair_on_a_bipartite_graph_equals_the_block_with_its_rows():
    # the block of the first test, as a graph from 2 neighbour nodes to 2 destinations that
    # are not among the sources, given as DGL's (h_src, h_dst) pair
    h = torch.randn(4, 3)
    conv = PinSageConv(3, 5, 4)
    block = dgl.create_block(([2, 3], [0, 0]), num_src_nodes=4, num_dst_nodes=2)
    block.edata["weight"] = torch.tensor([0.75, 0.25])
    graph = dgl.heterograph(
        {("nbr", "to", "pin"): (torch.tensor([0, 1]), torch.tensor([0, 0]))},
        num_nodes_dict={"nbr": 2, "pin": 2},
    )
    graph.edata["weight"] = torch.tensor([0.75, 0.25])
    expected = conv(block, h)
    assert torch.allclose(conv(graph, (h[2:], h[:2])), expected, atol=1e-6)
    assert torch.allclose(conv(block, (h, h[:2])), expected, atol=1e-6)
    with pytest.raises(ValueError, match="expected 2 destination rows, got 3"):
        conv(graph, (h[2:], h[:3]))


def test_table_pooling_equals_graph_pooling_on_the_same_neighbourhoods():
    from pinsage_dgl.sampling import block_from_neighbors

    messages = torch.randn(6, 4)
    pins = torch.tensor([1, 4])
    neighbors = torch.tensor([[0, 5, -1], [-1, -1, -1]])  # pin 4 has no neighbour
    weights = torch.tensor([[3.0, 1.0, 9.0], [1.0, 1.0, 1.0]])
    block = block_from_neighbors(pins, neighbors, weights, 6)
    by_graph = PinSageConv.pool(block, messages[block.srcdata[dgl.NID]], block.edata["weight"])
    by_table = PinSageConv.pool_table(messages, neighbors, weights)
    expected = torch.stack([0.75 * messages[0] + 0.25 * messages[5], torch.zeros(4)])
    assert torch.allclose(by_graph, expected, atol=1e-6)
    assert torch.allclose(by_table, expected, atol=1e-6)


def _pool_by_dgl_messages(graph, messages, weight):
    """The definition: DGL's generic message passing (u_mul_e, sum) over the weights' sum."""
    with graph.local_scope():
        graph.srcdata["m"] = messages
        graph.edata["a"] = weight
        graph.update_all(dgl.function.u_mul_e("m", "a", "wm"), dgl.function.sum("wm", "n"))
        graph.update_all(dgl.function.copy_e("a", "a"), dgl.function.sum("a", "s"))
        return graph.dstdata["n"] / graph.dstdata["s"].clamp_min(1e-12).unsqueeze(-1)


@pytest.mark.parametrize("idtype", [torch.int32, torch.int64])
def test_pooling_and_its_gradient_equal_dgl_message_passing(idtype):
    # a random block with repeated edges, a destination without neighbours and a source
    # feeding no destination; values and gradients in float64 against the definition
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(0, 9, (40,), generator=gen)
    dst = torch.randint(0, 4, (40,), generator=gen)
    keep = (dst != 2) & (src != 7)
    block = dgl.create_block(
        (src[keep], dst[keep]), num_src_nodes=9, num_dst_nodes=4, idtype=idtype
    )
    weight = torch.rand(block.num_edges(), generator=gen, dtype=torch.float64) + 0.1
    messages = torch.randn(9, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, 5, generator=gen, dtype=torch.float64)

    pooled = PinSageConv.pool(block, messages, weight)
    (grad,) = torch.autograd.grad((pooled * upstream).sum(), messages)
    expected = _pool_by_dgl_messages(block, messages, weight)
    (expected_grad,) = torch.autograd.grad((expected * upstream).sum(), messages)
    assert torch.allclose(pooled, expected, atol=1e-12)
    assert torch.allclose(grad, expected_grad, atol=1e-12)
    assert pooled[2].abs().sum() == 0 and grad[7].abs().sum() == 0
    assert torch.autograd.gradcheck(lambda m: PinSageConv.pool(block, m, weight), (messages,))


def test_pooling_without_edges_and_with_learned_weights():
    empty = dgl.create_block(([], []), num_src_nodes=3, num_dst_nodes=2)
    messages = torch.randn(3, 4, requires_grad=True)
    pooled = PinSageConv.pool(empty, messages, torch.ones(0))
    assert pooled.shape == (2, 4) and pooled.abs().sum() == 0
    pooled.sum().backward()
    assert messages.grad.abs().sum() == 0
    # weights that need a gradient get one (DGL's message passing)
    block = dgl.create_block(([0, 1, 2], [0, 0, 1]), num_src_nodes=3, num_dst_nodes=2)
    weight = torch.tensor([1.0, 3.0, 2.0], requires_grad=True)
    pooled = PinSageConv.pool(block, messages, weight)
    assert torch.allclose(pooled[0], 0.25 * messages[0] + 0.75 * messages[1])
    pooled[0, 0].backward()
    # d/da_0 of (a_0 m_0 + a_1 m_1) / (a_0 + a_1) = a_1 (m_0 - m_1) / 16, and symmetrically
    difference = (messages[0, 0] - messages[1, 0]).item()
    expected = torch.tensor([3 * difference / 16, -difference / 16, 0.0])
    assert torch.allclose(weight.grad, expected, atol=1e-6)
