"""Attribute values are stringified exactly as the contrib exporter's pdata AsString does."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1 import common_pb2

from heron_collector.ingest.rows import hex_id
from heron_collector.ingest.values import as_string, go_float


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (0.5, "0.5"), (-2.25, "-2.25"), (1e-7, "1e-7"), (1e21, "1e+21"), (123456789.0, "123456789"),
    (1e20, "100000000000000000000"), (0.000001, "0.000001"), (0.0, "0"),
    (float("inf"), "json: unsupported value: +Inf"),
])
def test_doubles_use_go_formatting(value, text):
    assert go_float(value) == text


def anyvalue(**kwargs) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(**kwargs)


def test_scalars():
    assert as_string(anyvalue()) == ""
    assert as_string(anyvalue(string_value="héron")) == "héron"
    assert as_string(anyvalue(bool_value=True)) == "true"
    assert as_string(anyvalue(int_value=-42)) == "-42"
    assert as_string(anyvalue(double_value=2.0)) == "2"
    assert as_string(anyvalue(bytes_value=b"\x00\xff")) == "AP8="


def test_maps_and_arrays_are_compact_json_with_sorted_keys():
    nested = anyvalue(kvlist_value=common_pb2.KeyValueList(values=[
        common_pb2.KeyValue(key="b", value=anyvalue(double_value=1.5)),
        common_pb2.KeyValue(key="a", value=anyvalue(array_value=common_pb2.ArrayValue(values=[
            anyvalue(int_value=1), anyvalue(string_value="x<y"), anyvalue(bool_value=False), anyvalue()]))),
    ]))
    assert as_string(nested) == '{"a":[1,"x<y",false,null],"b":1.5}'


def test_ids_are_lowercase_hex_and_all_zero_is_empty():
    assert hex_id(bytes.fromhex("5B8EFFF798038103D269B633813FC60C")) == "5b8efff798038103d269b633813fc60c"
    assert hex_id(b"\0" * 16) == ""
    assert hex_id(b"") == ""
