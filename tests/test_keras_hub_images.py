"""keras-hub image backbones: building, the ViT size, local presets and timm checkpoints.

Parameter counts, feature maps, pyramids and preprocessing of every family: test_keras_hub_families.py."""

import keras_hub
import numpy as np
import pytest
from zoo_keras_hub.images import IMAGES

import zoo
from zoo.backbones import network_of


@pytest.mark.parametrize(
    ("name", "size"),
    [("resnet_18_imagenet", 64), ("densenet_121_imagenet", 64), ("vgg_11_imagenet", 32), ("dinov2_small", 56)],
)
def test_backbones_build_offline_and_give_finite_features(name, size):
    spec = zoo.get_spec(name)
    model = zoo.backbone(name, weights=None, input_shape=size)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    features = np.asarray(model(pixels))
    assert features.shape == (2, spec.feature_dim) and np.isfinite(features).all()


def test_vit_gives_its_cls_token_at_its_fixed_size():
    spec = zoo.get_spec("vit_base_patch32_224_imagenet21k")
    assert spec.min_input_size == 224 and spec.feature_shape == (768,)
    network = zoo.backbone(spec.name, weights=None, pooling=None)
    assert network.output_shape == (None, 768)
    with pytest.raises(zoo.InputShapeError, match="at least 224x224"):
        zoo.backbone(spec.name, weights=None, input_shape=128)


def test_a_local_keras_hub_preset_loads_with_identical_weights(tmp_path):
    image = next(image for image in IMAGES if image.name == "vgg_11_imagenet")
    saved = keras_hub.models.VGGBackbone(**image.arguments, image_shape=(32, 32, 3))
    saved.save_to_preset(str(tmp_path))
    model = zoo.backbone("vgg_11_imagenet", weights=tmp_path, input_shape=32)
    loaded = network_of(model).get_weights()
    assert len(loaded) == len(saved.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(loaded, saved.get_weights(), strict=True))


def test_a_directory_without_config_json_is_a_weights_error_naming_it(tmp_path):
    (tmp_path / "metadata.json").write_text("{}")
    with pytest.raises(zoo.WeightsError, match="config.json"):
        zoo.backbone("resnet_18_imagenet", weights=tmp_path)


def test_names_are_presets_and_do_not_clash_with_keras_applications():
    specs = {spec.name: spec for spec in zoo.list_backbones()}
    assert len(specs) >= 130
    assert {image.name for image in IMAGES} <= set(specs)
    assert {"resnet50", "vgg16", "densenet121"} <= set(specs) and "resnet_50_imagenet" in specs
    assert len(IMAGES) >= 60 and len({image.family for image in IMAGES}) >= 15


def test_a_local_timm_checkpoint_directory_loads(tmp_path):
    """A timm-format directory (config.json with its architecture + model.safetensors), as timm saves them."""
    import json

    import keras
    from safetensors.numpy import save_file

    source = network_of(zoo.backbone("resnet_18_imagenet", weights=None, input_shape=64, pooling=None))
    tensors = {}

    def conv(layer, name):
        kernel = keras.ops.convert_to_numpy(source.get_layer(layer).kernel)
        tensors[f"{name}.weight"] = np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))

    def norm(layer, name):
        bn = source.get_layer(layer)
        for key, variable in (("weight", bn.gamma), ("bias", bn.beta), ("running_mean", bn.moving_mean),
                              ("running_var", bn.moving_variance)):  # fmt: skip
            tensors[f"{name}.{key}"] = np.asarray(keras.ops.convert_to_numpy(variable)) + 0.01  # not the init values

    conv("conv1_conv", "conv1")
    norm("conv1_bn", "bn1")
    for stack, blocks in enumerate([2, 2, 2, 2]):
        for block in range(blocks):
            keras_name, timm_name = f"stack{stack}_block{block}", f"layer{stack + 1}.{block}"
            if block == 0 and stack > 0:
                conv(f"{keras_name}_0_conv", f"{timm_name}.downsample.0")
                norm(f"{keras_name}_0_bn", f"{timm_name}.downsample.1")
            for i in (1, 2):
                conv(f"{keras_name}_{i}_conv", f"{timm_name}.conv{i}")
                norm(f"{keras_name}_{i}_bn", f"{timm_name}.bn{i}")
    directory = tmp_path / "timm_resnet18"
    directory.mkdir()
    config = {"architecture": "resnet18", "num_classes": 1000, "num_features": 512}
    (directory / "config.json").write_text(json.dumps(config))
    save_file(tensors, str(directory / "model.safetensors"))

    loaded = network_of(zoo.backbone("resnet_18_imagenet", weights=directory, input_shape=64))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.get_layer("conv1_bn").moving_mean), tensors["bn1.running_mean"], rtol=1e-6
    )
