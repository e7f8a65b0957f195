"""The wire format both ways, on the real sample lines and on generated records."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deleton.core.records import Invalid, Marker, Parsed, RideLine, RiderLine, TelemetryLine
from deleton.core.wire import envelope, format_line, format_value, parse_line, parse_value


def test_every_real_sample_line_parses_and_formats_back_byte_for_byte(
    sample_lines: list[str],
) -> None:
    assert len(sample_lines) == 279
    for line in sample_lines:
        record = parse_line(line)
        assert not isinstance(record, Invalid), (line, record)
        assert format_line(record) == line
        assert parse_value(envelope(line)) == record


def test_real_rider_line_fields(sample_lines: list[str]) -> None:
    rider = next(r for r in map(parse_line, sample_lines) if isinstance(r, RiderLine))
    assert rider.user_id == 4526
    assert rider.names == (None, "Charlene", "Brown")
    assert rider.address_parts == ("Flat 98y", "Carolyn haven", "East Valeriemouth", "S5T 0TT")
    assert rider.date_of_birth.isoformat() == "1943-04-26"  # negative epoch milliseconds
    assert rider.gender_kind == "female"


def test_the_spec_example_stream() -> None:
    spec = [
        "--------- beginning of main",
        "--------- beginning of a new ride",
        "2022-11-03 18:42:00.422392 mendoza v9: Getting user data from server..",
        '2022-11-03 18:42:00.922427 mendoza v9: [SYSTEM] data = {"user_id":100,"name":"Steven '
        'Pearce","gender":"male","address":"0 Simpson locks,Wilkinsonshire,E68 8SH",'
        '"date_of_birth":273715200000,"email_address":"steven.p@gmail.com","height_cm":167,'
        '"weight_kg":83,"account_create_date":1647993600000,"bike_serial":"SN0000",'
        '"original_source":"direct"}',
        "2022-11-03 18:42:01.422451 mendoza v9: [INFO]: Ride - duration = 1.0; resistance = 0",
        "2022-11-03 18:42:01.922469 mendoza v9: [INFO]: Telemetry - hrt = 0; rpm = 0; power = 0.0",
    ]
    records = [parse_line(line) for line in spec]
    assert [type(r) for r in records] == [
        Marker,
        Marker,
        Marker,
        RiderLine,
        RideLine,
        TelemetryLine,
    ]
    assert [format_line(r) for r in records] == spec  # type: ignore[arg-type]
    rider = records[3]
    assert isinstance(rider, RiderLine)
    assert rider.address_parts == ("0", "Simpson locks", "Wilkinsonshire", "E68 8SH")


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Mr Stuart Austin", ("Mr", "Stuart", "Austin")),
        ("Dr. Jane Smith-Jones", ("Dr", "Jane", "Smith-Jones")),
        ("Mrs. Anne O'Neill", ("Mrs", "Anne", "O'Neill")),
        ("Miss Amy Wood", ("Miss", "Amy", "Wood")),
        ("Ms Lou D'Arcy", ("Ms", "Lou", "D'Arcy")),
        ("Steven Pearce", (None, "Steven", "Pearce")),
    ],
)
def test_names_with_and_without_titles(name: str, parts: tuple[str | None, str, str]) -> None:
    line = (
        "2022-11-03 18:42:00.922427 mendoza v9: [SYSTEM] data = "
        + orjson.dumps(
            {
                "user_id": 1,
                "name": name,
                "gender": "non-binary",
                "address": "Studio 73,Stuart turnpike,South Owenshire,SA4N 2PJ",
                "date_of_birth": -842140800000,
                "email_address": "a@b.com",
                "height_cm": 170,
                "weight_kg": 70,
                "account_create_date": 1647993600000,
                "bike_serial": "SN0001",
                "original_source": "social media",
            }
        ).decode()
    )
    rider = parse_line(line)
    assert isinstance(rider, RiderLine)
    assert tuple(rider.names) == parts
    assert rider.gender_kind == "other"


HEAD = "2022-11-03 18:42:01.422451 mendoza v9: "


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (HEAD + "[INFO]: Telemetry - hrt = -5; rpm = 0; power = 0.0", "negative heart rate"),
        (HEAD + "[INFO]: Telemetry - hrt = ; rpm = 0; power = 0.0", "malformed Telemetry"),
        (HEAD + "[INFO]: Ride - duration = abc; resistance = 0", "malformed Ride"),
        (HEAD + "[INFO]: Ride - duration = 1.0", "malformed Ride"),
        (
            "2022-13-45 18:42:01.422451 mendoza v9: [INFO]: Ride - duration = 1.0; resistance = 0",
            "impossible timestamp",
        ),
        (
            "2022-11-03 18:42:61.422451 mendoza v9: [INFO]: Ride - duration = 1.0; resistance = 0",
            "impossible timestamp",
        ),
        (HEAD + "[SYSTEM] data = {not json", "not JSON"),
        (HEAD + '[SYSTEM] data = {"user_id":1}', "fields differ"),
        (HEAD + "[WARN]: something else", "unrecognised"),
        ("hello world", "timestamp"),
        ("", "empty"),
        ("--------- end of everything!", "marker"),
    ],
)
def test_bad_lines_are_invalid_with_a_reason(line: str, reason: str) -> None:
    parsed = parse_line(line)
    assert isinstance(parsed, Invalid)
    assert reason in parsed.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no value"),
        (b"not json", "not JSON"),
        (b'{"log": 5}', "not a string"),
        (b'{"log": "x\\n", "extra": 1}', "exactly one key"),
        (
            b'{"log": "2022-11-03 18:42:01.422451 a b: [INFO]: Ride - duration = 1.0"}',
            "newline",
        ),
        (b'{"log": "\xff\\n"}', "UTF-8"),
    ],
)
def test_bad_values_are_invalid_with_a_reason(value: bytes | None, reason: str) -> None:
    parsed = parse_value(value)
    assert isinstance(parsed, Invalid)
    assert reason in parsed.reason


def test_escaped_envelope_takes_the_json_path() -> None:
    value = (
        b'{"log": "2022-11-03 18:42:01.422451 mendoza v9: [INFO]: Ride - '
        b'duration = 1.0; resistance = 0\\u000a"}'
    )
    assert parse_value(value) == RideLine(1667500921422451, "mendoza v9", 1.0, 0)


# --- property tests: format then parse gives back the record, for every line type ------------

times = st.integers(min_value=0, max_value=4_102_444_800_000_000)  # up to 2100
hosts = st.tuples(
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10),
    st.from_regex(r"v[0-9]{1,2}", fullmatch=True),
).map(" ".join)
floats = st.floats(min_value=0, max_value=2000, allow_nan=False, allow_infinity=False)
word = st.from_regex(r"[A-Z][a-z]{1,10}", fullmatch=True)
surname = st.one_of(word, st.tuples(word, word).map("-".join), word.map(lambda w: "O'" + w))


@given(times, hosts, floats.map(lambda f: float(int(f))), st.integers(0, 300))
def test_ride_round_trip(at: int, host: str, duration: float, resistance: int) -> None:
    record = RideLine(at, host, duration, resistance)
    assert parse_value(format_value(record)) == record


@given(times, hosts, st.integers(0, 250), st.integers(0, 200), floats)
def test_telemetry_round_trip(at: int, host: str, hrt: int, rpm: int, power: float) -> None:
    record = TelemetryLine(at, host, hrt, rpm, power)
    assert parse_value(format_value(record)) == record


@given(
    times,
    hosts,
    st.integers(0, 10**9),
    st.tuples(st.sampled_from(["", "Mr ", "Mrs. ", "Dr ", "Miss ", "Ms. "]), word, surname).map(
        lambda p: f"{p[0]}{p[1]} {p[2]}"
    ),
    st.sampled_from(["male", "female", "non-binary", "agender"]),
    st.one_of(
        st.tuples(st.integers(0, 999), word, word, word).map(
            lambda p: f"{p[0]} {p[1]} lane,{p[2]},{p[3]} 1AB"
        ),
        st.tuples(st.sampled_from(["Flat 98y", "Studio 73"]), word, word).map(
            lambda p: f"{p[0]},{p[1]} haven,{p[2]},S5T 0TT"
        ),
    ),
    st.integers(-2_000_000_000_000, 1_700_000_000_000).map(lambda ms: ms - ms % 86_400_000),
    st.integers(100, 230),
    st.integers(30, 200),
)
def test_rider_round_trip(
    at: int,
    host: str,
    user_id: int,
    name: str,
    gender: str,
    address: str,
    born: int,
    height: int,
    weight: int,
) -> None:
    record = RiderLine(
        at,
        host,
        user_id,
        name,
        gender,
        address,
        born,
        "x.y@gmail.com",
        height,
        weight,
        1647993600000,
        "SN0042",
        "google ads",
    )
    assert parse_value(format_value(record)) == record


@given(
    st.one_of(
        st.sampled_from(["--------- beginning of main", "--------- beginning of a new ride"]).map(
            Marker
        ),
        st.tuples(times, hosts).map(lambda p: Marker("Getting user data from server..", *p)),
    )
)
def test_marker_round_trip(record: Marker) -> None:
    assert parse_value(format_value(record)) == record


def judged(parsed: Parsed) -> None:
    """Bad input is turned down with a reason; anything accepted is a record that formats
    back to a message meaning the very same."""
    if isinstance(parsed, Invalid):
        assert parsed.reason.strip()
    else:
        assert parse_value(format_value(parsed)) == parsed


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_judged_never_raised(value: bytes) -> None:
    judged(parse_value(value))


@given(st.text(max_size=200))
def test_arbitrary_lines_are_judged_never_raised(line: str) -> None:
    judged(parse_value(envelope(line)))


ride_or_telemetry = st.one_of(
    st.builds(RideLine, times, hosts, floats.map(lambda f: float(int(f))), st.integers(0, 300)),
    st.builds(TelemetryLine, times, hosts, st.integers(0, 250), st.integers(0, 200), floats),
)


@given(ride_or_telemetry, st.integers(0, 120), st.sampled_from(["", "-", "x", "60", " ", "9"]))
def test_the_fast_path_agrees_with_the_general_one(record: RideLine, cut: int, insert: str) -> None:
    """parse_value matches plain Ride/Telemetry envelopes on raw bytes; mutated lines must get
    exactly the answer the general line parser gives."""
    line = format_line(record)
    mutated = line[:cut] + insert + line[cut:]
    for text in (line, mutated):
        assert parse_value(envelope(text)) == parse_line(text)


# --- every value against the column that will hold it ------------------------------------------

RIDER_FIELDS = {
    "user_id": 100,
    "name": "Steven Pearce",
    "gender": "male",
    "address": "0 Simpson locks,Wilkinsonshire,E68 8SH",
    "date_of_birth": 273715200000,
    "email_address": "steven.p@gmail.com",
    "height_cm": 167,
    "weight_kg": 83,
    "account_create_date": 1647993600000,
    "bike_serial": "SN0000",
    "original_source": "direct",
}


def rider_line(**changes: object) -> str:
    payload = orjson.dumps({**RIDER_FIELDS, **changes}).decode()
    return f"{HEAD}[SYSTEM] data = {payload}"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (HEAD + "[INFO]: Telemetry - hrt = 2147483648; rpm = 0; power = 0.0", "above 2147483647"),
        (HEAD + "[INFO]: Telemetry - hrt = 1; rpm = 99999999999; power = 0.0", "above"),
        (HEAD + "[INFO]: Ride - duration = 1.0; resistance = 2147483648", "above 2147483647"),
        (HEAD + "[INFO]: Telemetry - hrt = " + "9" * 5000 + "; rpm = 0; power = 0.0", "above"),
        (HEAD + "[INFO]: Telemetry - hrt = 1; rpm = 1; power = 1e+400", "not a finite number"),
        (HEAD + "[INFO]: Telemetry - hrt = 1; rpm = 1; power = 1e400", "malformed Telemetry"),
        (HEAD + "[INFO]: Telemetry - hrt = 1; rpm = 1; power = " + "9" * 400 + ".0", "finite"),
        (HEAD + "[INFO]: Ride - duration = " + "9" * 400 + ".0; resistance = 1", "finite"),
        (
            "2022-11-03 18:42:01.422451 mend\x00oza v9: [INFO]: Ride - duration = 1.0; resistance = 0",
            "NUL",
        ),
        (
            "2022-11-03 18:42:01.422451 "
            + "h" * 200
            + " v9: [INFO]: Ride - duration = 1.0; resistance = 0",
            "longer than 128",
        ),
        (rider_line(user_id=2**63), "bigint"),
        (rider_line(user_id=-1), "bigint"),
        (rider_line(height_cm=2**31), "height or weight"),
        (rider_line(weight_kg=-3), "height or weight"),
        (rider_line(name="Steven\x00 Pearce"), "control characters"),
        (rider_line(address="0 Simpson\nlocks,Town,E68 8SH"), "control characters"),
        (rider_line(email_address="steven.p@gmail.com\r\nBcc: all@x.com"), "control characters"),
        (rider_line(email_address="steven p@gmail.com"), "not an address"),
        (rider_line(email_address="Steven <s@x.com>"), "not an address"),
        (rider_line(name="A " + "b" * 300), "longer than 200"),
        (rider_line(bike_serial=""), "bike serial is empty"),
        (rider_line(user_id="100"), "user_id is not int"),
    ],
)
def test_values_no_column_can_hold_are_invalid(line: str, reason: str) -> None:
    parsed = parse_line(line)
    assert isinstance(parsed, Invalid), parsed
    assert reason in parsed.reason
    for personal in ("Steven", "Pearce", "Simpson", "gmail", "all@x.com"):
        assert personal not in parsed.reason  # reasons end up in logs and tables


def test_a_huge_value_is_judged_by_its_size_alone() -> None:
    value = envelope(HEAD + "[INFO]: Ride - duration = 1.0; resistance = 0" + " " * 2**20)
    parsed = parse_value(value)
    assert isinstance(parsed, Invalid) and "larger than any bike line" in parsed.reason


def test_what_the_fast_path_takes_always_fits_its_columns() -> None:
    largest = HEAD + "[INFO]: Telemetry - hrt = 999999999; rpm = 999999999; power = 9.9e+99"
    assert parse_value(envelope(largest)) == TelemetryLine(1667500921422451, "mendoza v9",
                                                           999999999, 999999999, 9.9e99)  # fmt: skip
    ten_digits = HEAD + "[INFO]: Telemetry - hrt = 2147483647; rpm = 0; power = 0.0"
    assert isinstance(parse_value(envelope(ten_digits)), TelemetryLine)  # the general path


@pytest.mark.parametrize(
    ("given", "kind"),
    [("male", "male"), ("Male", "male"), (" FEMALE ", "female"), ("non-binary", "other")],
)
def test_genders_match_whatever_their_case_and_spacing(given: str, kind: str) -> None:
    rider = parse_line(rider_line(gender=given))
    assert isinstance(rider, RiderLine) and rider.gender_kind == kind
    assert format_line(rider) == rider_line(gender=given)  # what the bike sent, kept


def test_titles_and_addresses_vary_in_case_and_spacing() -> None:
    rider = parse_line(rider_line(name="MRS.  Jo  Bloggs", address="Flat 3 , High st, Leeds ,LS1"))
    assert isinstance(rider, RiderLine)
    assert tuple(rider.names) == ("Mrs", "Jo", "Bloggs")
    assert rider.address_parts == ("Flat 3", "High st", "Leeds", "LS1")
