import pytest
import timm
import torch

from alseg.errors import ConfigError
from alseg.models import build_model
from alseg.models.pretrained import lite0_checkpoint_path, lite0_state_dict_for_timm


def test_lite0_mapping_is_complete_and_one_to_one():
    source = torch.load(lite0_checkpoint_path(), map_location="cpu", weights_only=True)
    mapped = lite0_state_dict_for_timm()
    reference = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    assert len(source) == len(mapped) == len(reference) == 296
    assert set(mapped) == set(reference)
    for name, tensor in mapped.items():
        assert tensor.shape == reference[name].shape, name


def test_pretrained_encoder_differs_from_random_and_equals_checkpoint():
    torch.manual_seed(0)
    pretrained = build_model(19)
    random = build_model(19, weights="none")
    mapped = lite0_state_dict_for_timm()
    encoder = pretrained.net.encoder.model.state_dict()
    assert len(encoder) == 288  # every encoder tensor; conv_head/bn2/classifier are unused
    for name, tensor in encoder.items():
        assert torch.equal(tensor, mapped[name]), name
    random_stem = random.net.encoder.model.state_dict()["conv_stem.weight"]
    assert not torch.allclose(encoder["conv_stem.weight"], random_stem)


def test_output_shapes_for_any_input_size():
    model = build_model(5, weights="none", head_dropout=0.5).eval()
    images = torch.rand(2, 3, 50, 70)
    with torch.no_grad():
        assert model(images).shape == (2, 5, 50, 70)
        assert model.embed(images).shape == (2, 1024)
        assert model.embed(torch.rand(1, 3, 96, 160)).shape == (1, 1024)


def test_mc_dropout_masks_are_reproducible_and_change_outputs():
    model = build_model(4, weights="none", head_dropout=0.5).eval()
    masks_a = model.mc_dropout_masks(3, torch.Generator().manual_seed(1))
    masks_b = model.mc_dropout_masks(3, torch.Generator().manual_seed(1))
    assert torch.equal(masks_a, masks_b)
    assert set(masks_a.unique().tolist()) == {0.0, 2.0}
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        features = model.encode(images)
        plain = model.decode(features, (32, 32)).logits
        dropped = model.decode(features, (32, 32), dropout_mask=masks_a[0]).logits
        assert torch.equal(plain, model(images))  # eval mode: no dropout without a mask
        assert not torch.allclose(plain, dropped)


def test_mc_dropout_needs_dropout():
    with pytest.raises(ConfigError, match="head_dropout"):
        build_model(3, weights="none").mc_dropout_masks(2, torch.Generator())


def test_bad_model_settings():
    with pytest.raises(ConfigError, match="unknown encoder"):
        build_model(3, encoder="no_such_net", weights="none")
    with pytest.raises(ConfigError, match="weights"):
        build_model(3, weights="fancy")


def test_parameter_groups_partition_the_model():
    model = build_model(3, weights="none")
    backbone = {id(p) for p in model.backbone_parameters()}
    head = {id(p) for p in model.head_parameters()}
    assert backbone.isdisjoint(head)
    assert backbone | head == {id(p) for p in model.parameters()}


def _aspp_dilations(model) -> list[int]:
    branches = model.net.decoder.aspp[0].convs[1:4]  # the three atrous branches (separable)
    return [branch[0][0].dilation[0] for branch in branches]


@pytest.mark.parametrize(("output_stride", "rates"), [(16, [6, 12, 18]), (8, [12, 24, 36])])
def test_aspp_rates_follow_the_output_stride(output_stride, rates):
    model = build_model(3, weights="none", output_stride=output_stride)
    assert _aspp_dilations(model) == rates
    for branch in model.net.decoder.aspp[0].convs[1:4]:
        assert branch[0][0].padding[0] == branch[0][0].dilation[0]  # keeps the map size
