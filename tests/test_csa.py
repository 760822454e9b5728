"""More checks of the CSA layer (nbs/02_csa.ipynb holds the main ones): random sweeps against the reference loop,
invariants, batch padding, gradients, and the CUDA path when a GPU is present."""
import pytest
import torch

from csa_nb.csa import (BACKWARD_MODES, SIMILARITIES, CoherentSemanticAttention, attention_map,
                        coherent_semantic_attention, csa_reference)

torch.set_num_threads(1)


def features_like(batch, channels, height, width, seed, dtype=torch.float64):
    return torch.randn(batch, channels, height, width, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def random_masks(batch, height, width, hole_ratio, seed):
    masks = (torch.rand(batch, 1, height, width, generator=torch.Generator().manual_seed(seed)) < hole_ratio).double()
    masks[:, :, -1, -1] = 0  # at least one known position
    return masks


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("seed", range(4))
def test_matches_reference_on_random_cases(similarity, seed):
    generator = torch.Generator().manual_seed(100 + seed)
    batch, channels, height, width = (int(torch.randint(low, high, (1,), generator=generator))
                                      for low, high in ((1, 4), (1, 7), (2, 8), (2, 8)))
    ratio = float(torch.rand(1, generator=generator)) * 0.9
    features, mask = features_like(batch, channels, height, width, seed), random_masks(batch, height, width, ratio, seed)
    fast, fast_attention = coherent_semantic_attention(features, mask, similarity, return_attention=True)
    slow, slow_attention = csa_reference(features, mask, similarity)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-8)
    for mine, theirs in zip(fast_attention, slow_attention):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-8)


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_positive_scaling_commutes(similarity):
    # Both similarities are homogeneous of degree 0 in the weights: CSA(s F) = s CSA(F) for s > 0.
    features, mask = features_like(2, 5, 6, 6, seed=1), random_masks(2, 6, 6, 0.5, seed=2)
    torch.testing.assert_close(coherent_semantic_attention(3.7 * features, mask, similarity),
                               3.7 * coherent_semantic_attention(features, mask, similarity))


def test_channel_permutation_commutes():
    features, mask = features_like(2, 6, 5, 5, seed=3), random_masks(2, 5, 5, 0.5, seed=4)
    order = torch.randperm(6, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(coherent_semantic_attention(features[:, order], mask),
                               coherent_semantic_attention(features, mask)[:, order])


def test_known_positions_unchanged_and_rows_sum_to_one():
    features, mask = features_like(3, 8, 9, 7, seed=6, dtype=torch.float32), random_masks(3, 9, 7, 0.6, seed=7)
    output, attention = CoherentSemanticAttention()(features, mask.float(), return_attention=True)
    assert torch.equal(output * (1 - mask.float()), features * (1 - mask.float()))
    for rows, sample_mask in zip(attention, mask):
        torch.testing.assert_close(rows.sum(1), torch.ones(len(rows)))
        assert (rows[:, sample_mask.reshape(-1) > 0] == 0).all()  # attention lives on known positions only


def test_batch_with_padding_and_empty_sample_matches_reference():
    features = features_like(3, 4, 6, 6, seed=8)
    mask = random_masks(3, 6, 6, 0.7, seed=9)
    mask[1] = 0  # no hole in the middle sample
    mask[2, :, :3] = 0  # a smaller hole in the last one
    for similarity in SIMILARITIES:
        fast, attention = coherent_semantic_attention(features, mask, similarity, return_attention=True)
        slow, slow_attention = csa_reference(features, mask, similarity)
        torch.testing.assert_close(fast, slow)
        assert attention[1].shape == (0, 36)
        for mine, theirs in zip(attention, slow_attention):
            torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_gradients_with_padding(similarity):
    features = features_like(3, 3, 5, 5, seed=10)
    mask = random_masks(3, 5, 5, 0.5, seed=11)
    mask[0] = 0
    grad_output = features_like(3, 3, 5, 5, seed=12)

    def input_gradient(function):
        leaf = features.clone().requires_grad_(True)
        function(leaf).backward(grad_output)
        return leaf.grad

    fast = input_gradient(lambda x: coherent_semantic_attention(x, mask, similarity, "autograd"))
    slow = input_gradient(lambda x: csa_reference(x, mask, similarity)[0])
    torch.testing.assert_close(fast, slow)
    assert torch.autograd.gradcheck(lambda x: coherent_semantic_attention(x, mask, similarity, "autograd"),
                                    features.clone().requires_grad_(True))
    # official: grad + A^T grad, with one-hot rows at known positions
    official = input_gradient(lambda x: coherent_semantic_attention(x, mask, similarity, "official"))
    _, attention = csa_reference(features, mask, similarity)
    for sample in range(3):
        full = torch.eye(25, dtype=torch.float64)
        full[mask[sample].reshape(-1) > 0] = attention[sample]
        flat = grad_output[sample].reshape(3, 25)
        torch.testing.assert_close(official[sample], (flat + flat @ full).reshape(3, 5, 5))


def test_attention_map_picks_the_raster_order_row():
    mask = random_masks(1, 5, 6, 0.5, seed=13)[0]
    holes = [(row, column) for row in range(5) for column in range(6) if mask[0, row, column] > 0]
    attention = torch.randn(len(holes), 30, dtype=torch.float64)
    for index, pixel in enumerate(holes):
        torch.testing.assert_close(attention_map(attention, mask, pixel), attention[index].reshape(5, 6))


def test_errors():
    features = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match="similarity must be one of"):
        CoherentSemanticAttention("cos")
    with pytest.raises(ValueError, match="no known position"):
        coherent_semantic_attention(features, torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\(2, 1, 4, 4\)"):
        coherent_semantic_attention(features, torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="only 0 \\(known\\) and 1 \\(hole\\)"):
        coherent_semantic_attention(features, torch.full((2, 1, 4, 4), 0.3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_cuda_matches_cpu(similarity):
    features, mask = features_like(3, 16, 8, 8, seed=14, dtype=torch.float32), random_masks(3, 8, 8, 0.5, seed=15).float()
    cpu, cpu_attention = coherent_semantic_attention(features, mask, similarity, return_attention=True)
    cuda, cuda_attention = coherent_semantic_attention(features.cuda(), mask.cuda(), similarity, return_attention=True)
    assert cuda.device.type == "cuda" and all(rows.device.type == "cuda" for rows in cuda_attention)
    torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-4, atol=1e-4)
    for backward in BACKWARD_MODES:
        leaf = features.cuda().requires_grad_(True)
        coherent_semantic_attention(leaf, mask.cuda(), similarity, backward).square().sum().backward()
        assert leaf.grad.device.type == "cuda" and leaf.grad.isfinite().all()
    for dtype in (torch.float16, torch.bfloat16):
        low = coherent_semantic_attention(features.cuda().to(dtype), mask.cuda(), similarity)
        assert low.dtype == dtype
        torch.testing.assert_close(low.float().cpu(), coherent_semantic_attention(features.to(dtype).float(), mask, similarity),
                                   rtol=1e-2, atol=1e-2)
