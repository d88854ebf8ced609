"""ImageNet weights of timm encoders without the network: a local file, the hub cache, or one
clear error at once (never a download attempt here)."""

import time

import pytest
import timm
import torch
from huggingface_hub import constants as hub_constants
from safetensors.torch import save_file

from alseg.errors import ConfigError
from alseg.models import build_model

ENCODER = "resnet10t"  # small, with hub weights; features_only at output stride 16


@pytest.fixture(autouse=True)
def offline_and_empty_caches(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE, empty hub and torch caches, and a timm that fails the test on a
    download (pretrained weights without a local file)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    create_model = timm.create_model

    def no_download(name, pretrained=False, pretrained_cfg_overlay=None, **kwargs):
        if pretrained and not (pretrained_cfg_overlay or {}).get("file"):
            raise AssertionError(f"tried to download weights of {name}")
        return create_model(
            name, pretrained=pretrained, pretrained_cfg_overlay=pretrained_cfg_overlay, **kwargs
        )

    monkeypatch.setattr(timm, "create_model", no_download)


def _reference_weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    return timm.create_model(ENCODER, pretrained=False).state_dict()


def _assert_encoder_holds(model, weights: dict[str, torch.Tensor]) -> None:
    encoder = model.net.encoder.model.state_dict()
    assert encoder
    for name, tensor in encoder.items():
        assert torch.equal(tensor, weights[name]), name


def test_offline_without_weights_fails_at_once():
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="not cached and the hub is offline") as error:
        build_model(3, encoder=ENCODER)
    assert time.perf_counter() - started < 5
    assert "model.weights_path" in str(error.value)
    assert "\n" not in str(error.value)


def test_weights_path_loads_a_timm_state_dict_strictly(tmp_path):
    weights = _reference_weights()
    path = tmp_path / "resnet10t.pth"
    torch.save(weights, path)
    _assert_encoder_holds(build_model(3, encoder=ENCODER, weights_path=str(path)), weights)


def test_cached_hub_weights_load_without_the_network(tmp_path):
    weights = _reference_weights()
    repo = timm.models.get_pretrained_cfg(ENCODER).hf_hub_id
    cache = tmp_path / "hub" / f"models--{repo.replace('/', '--')}"
    (cache / "refs").mkdir(parents=True)
    (cache / "refs" / "main").write_text("abc123")
    (cache / "snapshots" / "abc123").mkdir(parents=True)
    save_file(weights, str(cache / "snapshots" / "abc123" / "model.safetensors"))
    _assert_encoder_holds(build_model(3, encoder=ENCODER), weights)


def test_weights_file_of_another_model_is_one_clear_error(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(timm.create_model("mobilenetv3_small_050").state_dict(), path)
    with pytest.raises(ConfigError, match=f"could not load ImageNet weights for {ENCODER}"):
        build_model(3, encoder=ENCODER, weights_path=str(path))
    with pytest.raises(ConfigError, match="not found"):
        build_model(3, encoder=ENCODER, weights_path=str(tmp_path / "absent.pth"))


def test_default_encoder_keeps_its_packaged_weights():
    build_model(3)  # efficientnet_lite0: offline from the installed package, no hub involved
