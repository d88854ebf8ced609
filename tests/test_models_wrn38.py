"""WRN-38 (the paper's backbone): structure at full width, DeepLabv3+ on it at output stride 8
and 16, and strict loading of a checkpoint in the published layout (written here, narrow)."""

import pytest
import torch

from alseg.config import ExperimentConfig, build
from alseg.errors import ConfigError
from alseg.loop import fresh_model
from alseg.models import build_model
from alseg.models import wrn38 as wrn38_module
from alseg.models.encoders import is_known_encoder, list_encoders
from alseg.models.wrn38 import WRN38Encoder
from alseg.study.config import StudyConfig
from alseg.study.presets import preset
from alseg.study.runner import plan_study

#: WRN-38's encoder parameters. With the ImageNet classifier (4096 x 1000 + 1000) they are
#: 109,167,912: twice that (weights and SGD momentum) plus the batch-norm statistics in float32
#: is 833.07 MiB, the size given for the published wider_resnet38.pth.tar.
ENCODER_PARAMETERS = 105_070_912


@pytest.fixture(scope="module")
def encoders() -> dict[int, WRN38Encoder]:
    return {stride: WRN38Encoder(output_stride=stride).eval() for stride in (8, 16)}


def test_full_width_structure(encoders):
    encoder = encoders[8]
    state = encoder.state_dict()
    assert sum(p.numel() for p in encoder.parameters()) == ENCODER_PARAMETERS
    assert len([k for k in state if not k.endswith("num_batches_tracked")]) == 191
    assert state["mod1.conv1.weight"].shape == (64, 3, 3, 3)
    assert state["mod2.block1.bn1.0.running_var"].shape == (64,)
    assert state["mod2.block1.proj_conv.weight"].shape == (128, 64, 1, 1)
    assert state["mod4.block6.convs.conv2.weight"].shape == (512, 512, 3, 3)
    assert state["mod6.block1.convs.conv3.weight"].shape == (2048, 1024, 1, 1)
    assert state["mod7.block1.convs.bn3.0.weight"].shape == (2048,)
    assert state["mod7.block1.proj_conv.weight"].shape == (4096, 2048, 1, 1)
    assert state["bn_out.0.weight"].shape == (4096,)
    projected = sorted(k.split(".")[0] for k in state if "proj_conv" in k)
    assert projected == [f"mod{i}" for i in range(2, 8)]  # the first block of each module
    blocks = [len(getattr(encoder, f"mod{i}")) for i in range(2, 8)]
    assert blocks == [3, 3, 6, 3, 1, 1]
    assert encoder.mod6.block1.convs.dropout.p == 0.3
    assert encoder.mod7.block1.convs.dropout.p == 0.5
    assert not hasattr(encoder.mod5.block1.convs, "dropout")


def test_output_stride_by_strides_and_dilations(encoders):
    def conv(encoder, path):
        return encoder.get_submodule(path)

    os8, os16 = encoders[8], encoders[16]
    assert conv(os8, "mod4.block1.convs.conv1").stride == (2, 2)
    assert conv(os16, "mod4.block1.convs.conv1").stride == (2, 2)
    assert conv(os16, "mod5.block1.convs.conv1").stride == (2, 2)
    assert conv(os8, "mod5.block1.convs.conv1").stride == (1, 1)
    assert conv(os8, "mod5.block2.convs.conv2").dilation == (2, 2)
    assert conv(os8, "mod6.block1.convs.conv2").dilation == (4, 4)
    assert conv(os8, "mod7.block1.convs.conv2").dilation == (4, 4)
    assert conv(os16, "mod6.block1.convs.conv2").dilation == (2, 2)
    assert conv(os16, "mod7.block1.convs.conv2").dilation == (2, 2)
    with torch.no_grad():
        for stride, encoder in encoders.items():
            features = encoder(torch.rand(1, 3, 64, 64))
            sizes = [(f.shape[1], f.shape[-1]) for f in features]
            assert sizes[:4] == [(3, 64), (128, 32), (256, 16), (512, 8)]
            assert sizes[-1] == (4096, 64 // stride)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_deeplab_on_wrn38_gives_logits_at_input_size(output_stride):
    assert "wrn38" in list_encoders() and is_known_encoder("wrn38")
    model = build_model(5, "wrn38", weights="none", output_stride=output_stride, head_dropout=0.5)
    model.eval()
    assert model.stride == output_stride
    assert model.net.decoder.block1[0].in_channels == 256  # low-level: the stride-4 module
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 5, 64, 64)
        assert model.embed(torch.rand(1, 3, 50, 70)).shape == (1, 1024)
        features = model.encode(torch.rand(1, 3, 64, 64))
        masks = model.mc_dropout_masks(2, torch.Generator().manual_seed(0))
        dropped = model.decode(features, (64, 64), dropout_mask=masks[0]).logits
        assert dropped.shape == (1, 5, 64, 64)


@pytest.fixture
def narrow(monkeypatch):
    """WRN-38's layout at 1/32 of its widths (same keys, small tensors)."""
    widths = tuple(tuple(w // 32 for w in module) for module in wrn38_module.WIDTHS)
    monkeypatch.setattr(wrn38_module, "WIDTHS", widths)
    monkeypatch.setattr(wrn38_module, "STEM_CHANNELS", 8)


def _published(encoder: WRN38Encoder, counters: bool = True) -> dict:
    """A checkpoint as distributed: DataParallel keys and the ImageNet classifier, wrapped."""
    state = {
        f"module.{k}": v.clone()
        for k, v in encoder.state_dict().items()
        if counters or not k.endswith("num_batches_tracked")
    }
    width = wrn38_module.WIDTHS[-1][-1]
    state["module.classifier.fc.weight"] = torch.randn(1000, width)
    state["module.classifier.fc.bias"] = torch.randn(1000)
    return {"epoch": 90, "arch": "wider_resnet38_a2", "state_dict": state}


@pytest.mark.parametrize("counters", [True, False])
def test_published_checkpoint_loads_strictly(narrow, tmp_path, counters):
    torch.manual_seed(1)
    source = WRN38Encoder(output_stride=16)
    for module in source.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "wider_resnet38.pth.tar"
    torch.save(_published(source, counters), path)
    model = build_model(3, "wrn38", weights_path=str(path), output_stride=8)
    loaded = model.net.encoder.state_dict()
    expected = source.state_dict()
    assert loaded.keys() == expected.keys()
    for key, tensor in expected.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(loaded[key], tensor), key


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("module.mod3.block2.convs.conv1.weight"), "missing 1 .*mod3.block2"),
        (lambda s: s.update({"module.mod8.conv.weight": torch.zeros(1)}), "unexpected 1 .*mod8"),
        (lambda s: s.update({"module.bn_out.0.bias": torch.zeros(3)}), "wrong shape 1 .*bn_out"),
    ],
)
def test_checkpoint_that_does_not_fit_is_one_clear_error(narrow, tmp_path, edit, message):
    checkpoint = _published(WRN38Encoder())
    edit(checkpoint["state_dict"])
    path = tmp_path / "wrn.pth.tar"
    torch.save(checkpoint, path)
    with pytest.raises(ConfigError, match=f"does not match the WRN-38 layout: {message}"):
        build_model(3, "wrn38", weights_path=str(path))


def test_imagenet_weights_need_a_file(tmp_path):
    with pytest.raises(ConfigError, match="set model.weights_path to wider_resnet38.pth.tar"):
        build_model(3, "wrn38")
    with pytest.raises(ConfigError, match="not found"):
        build_model(3, "wrn38", weights_path=str(tmp_path / "absent.pth.tar"))
    (tmp_path / "garbage.pth.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read wrn38 weights file"):
        build_model(3, "wrn38", weights_path=str(tmp_path / "garbage.pth.tar"))


def test_study_plan_needs_the_weights_path_but_not_the_file(tmp_path):
    study = preset("paper-a2d2-pools")  # WRN-38 from pretrained_models/, absent here
    assert study.base["model"]["encoder"] == "wrn38"
    assert len(plan_study(study, tmp_path / "never").runs) == 180
    values = study.model_dump()
    del values["base"]["model"]["weights_path"]
    with pytest.raises(ConfigError, match="wrn38 ImageNet weights need a local file"):
        plan_study(build(StudyConfig, **values), tmp_path / "never")


def test_the_loop_builds_from_the_configs_weights_path(tmp_path):
    absent = str(tmp_path / "elsewhere.pth.tar")
    config = build(ExperimentConfig, model={"encoder": "wrn38", "weights_path": absent})
    with pytest.raises(ConfigError, match=f"weights file {absent} not found"):
        fresh_model(config, 3)
