"""A zoo error raised inside a tf.data function crosses it whole: the same object, not one rebuilt from text."""

import pytest

import zoo
from zoo.errors import carries_errors, zoo_error_in


def test_a_zoo_error_raised_in_tf_data_is_found_again_whole():
    tf = pytest.importorskip("tensorflow")
    raised = zoo.DataTypeError("x.png is not an image\nsecond line of the message")

    @carries_errors
    def decode(index):
        raise raised

    batches = tf.data.Dataset.range(1).map(lambda i: tf.numpy_function(decode, [i], tf.int64))
    with pytest.raises(tf.errors.OpError) as engine:
        list(batches)
    assert "x.png is not an image" in str(engine.value)  # what tf.data itself says still names it
    assert zoo_error_in(engine.value) is raised  # class (DataTypeError, not DataError) and both lines kept
    assert str(raised) == "x.png is not an image\nsecond line of the message"
    assert zoo_error_in(engine.value) is not raised  # taken once; then only the text is left to read
