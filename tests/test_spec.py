"""BackboneSpec and Preprocessing are validated data that round-trips through JSON."""

import json

import pytest

import zoo
from zoo.spec import BackboneSpec, Preprocessing, WeightsVariant


def make(**overrides):
    fields = dict(
        name="tiny",
        family="demo",
        input_shape=(32, 32, 3),
        feature_dim=8,
        feature_shape=(4, 4, 8),
        preprocessing=Preprocessing.torch(),
        weights=(WeightsVariant(tag="imagenet", source="test", license="MIT", sha256="ab" * 32),),
    )
    return BackboneSpec(**{**fields, **overrides})


def test_every_registered_spec_round_trips_through_json():
    for spec in zoo.list_backbones():
        again = BackboneSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert again == spec
        assert again.factory is None


def test_spec_is_frozen_and_lists_become_tuples():
    spec = make(input_shape=[32, 32, 3], aliases=["Tiny"])
    assert spec.input_shape == (32, 32, 3) and spec.aliases == ("Tiny",)
    with pytest.raises(AttributeError):
        spec.name = "other"
    assert spec.default_weights == "imagenet"
    assert make(weights=()).default_weights is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "ResNet50"}, "lowercase snake case"),
        ({"name": ""}, "lowercase snake case"),
        ({"modality": "audio"}, "modality"),
        ({"feature_dim": 7}, "feature_dim 7 differs"),
        ({"input_shape": (32, 32)}, "height, width, channels"),
        ({"input_shape": (16, 16, 3)}, "below min_input_size"),
        ({"params": -1}, "params"),
        ({"preprocessing": Preprocessing(mean=(1.0, 2.0))}, "needs 3 numbers"),
        ({"preprocessing": Preprocessing(std=(1.0, 0.0, 1.0))}, "zeros"),
        ({"preprocessing": Preprocessing(channel_order="grb")}, "channel_order"),
        ({"preprocessing": Preprocessing(interpolation="cubic-ish")}, "interpolation"),
        ({"preprocessing": "caffe"}, "zoo.Preprocessing"),
        ({"factory": 42}, "callable"),
    ],
)
def test_malformed_specs_name_the_field(overrides, message):
    with pytest.raises(zoo.SpecError, match=message):
        make(**overrides)


def test_from_dict_rejects_unknown_fields():
    data = make().to_dict() | {"colour": "blue"}
    with pytest.raises(zoo.SpecError, match="unknown spec fields.*colour"):
        BackboneSpec.from_dict(data)


def test_preprocessing_modes_match_keras_applications_constants():
    caffe = Preprocessing.caffe()
    assert (caffe.channel_order, caffe.mean, caffe.std) == ("bgr", (103.939, 116.779, 123.68), None)
    tf = Preprocessing.tf()
    assert 255 * tf.scale + tf.offset == pytest.approx(1.0) and tf.offset == -1.0
    torch = Preprocessing.torch()
    assert torch.scale == pytest.approx(1 / 255) and torch.std == (0.229, 0.224, 0.225)
    assert "inside the network: x" in Preprocessing.raw("x").describe()
    assert Preprocessing.caffe().describe().startswith("caffe: RGB->BGR")
