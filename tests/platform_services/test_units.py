import pytest

from platform_services.units import format_memory, parse_cpu, parse_memory


@pytest.mark.parametrize(
    ("text", "millis"), [("2.5", 2500), ("500m", 500), (2, 2000), ("0.001", 1), (" 1 ", 1000)]
)
def test_cpu_parses(text, millis):
    assert parse_cpu(text) == millis


@pytest.mark.parametrize("text", ["", "abc", "-1", "1.0001", "2.5m", "1e3", True, "1 5", "nan"])
def test_cpu_refuses(text):
    with pytest.raises(ValueError):
        parse_cpu(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [("8G", 8 << 30), ("512Mi", 512 << 20), ("1024", 1024), (10, 10), ("1.5G", 3 << 29), ("2Gi", 2 << 30)],
)
def test_memory_parses(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["", "8X", "-1G", "G", 1.5, True, "1e9", "8 G B"])
def test_memory_refuses(text):
    with pytest.raises(ValueError):
        parse_memory(text)


def test_memory_formats_round_trip():
    assert format_memory(parse_memory("8G")) == "8G"
