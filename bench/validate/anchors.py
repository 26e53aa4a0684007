#!/usr/bin/env python3
"""Anchor validators for the lienthong validation benchmark.

Validates a citizen-register CSV with pandera or with Great Expectations (GX), using the
same rules lienthong checks, and prints one JSON line:

    {"tool", "rows", "seconds", "rows_per_s", "invalid_rows", "failures": {rule: rows}}

`seconds` runs from before reading the CSV to after the last check; importing the tool
and building the schema / expectation suite happen before the clock starts. A rule's
count is the number of rows failing it; `invalid_rows` counts rows failing any rule.

Every field is read as text and only an empty field is missing, so "NA" (Namibia) stays a
value and leading zeros are kept. Both tools skip missing values in every rule except
`mandatory.missing`. Where a tool has a built-in check for a rule it is used; the other
rules share one vectorised predicate (below), wrapped as a pandera Check or a GX custom
expectation, so the two tools test exactly the same thing.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage reporting from GX

REPO = Path(__file__).resolve().parents[2]
UNITS_FILE = "units-2025-07-01.json"

# ---------------------------------------------------------------------------------------
# Rules and reference data
# ---------------------------------------------------------------------------------------

RULES = [
    "mandatory.missing", "personal_id.format", "birth_date.format", "sex.code", "ethnicity.code",
    "religion.code", "nationality.code", "province_code.code", "commune_code.code", "phone.format",
    "email.format", "updated_at.format", "personal_id.duplicate",
]
COLUMNS = [
    "personal_id", "full_name", "birth_date", "sex", "ethnicity", "religion", "nationality",
    "province_code", "commune_code", "address", "phone", "email", "updated_at",
]
MANDATORY = ["personal_id", "full_name", "birth_date", "sex", "province_code", "commune_code"]

SEX = ["1", "2"]
ETHNICITY = [f"{n:02d}" for n in range(1, 55)]  # QĐ 121-TCTK, 54 groups
RELIGION = [f"{n:02d}" for n in range(1, 15)]  # QCVN 109, 14 religions
# ISO 3166-1 alpha-2, the same 249 codes as lienthong_dictionary::codes::ISO_ALPHA2.
ISO_ALPHA2 = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES
ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE
IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU
NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM
SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE
VG VI VN VU WF WS YE YT ZA ZM ZW
""".split()
assert len(ISO_ALPHA2) == 249

PERSONAL_ID_RE = r"^[0-9]{12}$"
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Mobile (0|+84)[35789] + 8 digits, or landline (0|+84)2 + 9 digits, after removing separators.
PHONE_RE = r"(?:0|\+84)(?:[35789][0-9]{8}|2[0-9]{9})"
PHONE_SEPARATORS = r"[ .-]"
# Accepted birth-date forms: (shape, strptime format). The shapes are disjoint.
DATE_FORMS = [
    (r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "%Y-%m-%d"),
    (r"[0-9]{8}", "%Y%m%d"),
    (r"[0-9]{2}/[0-9]{2}/[0-9]{4}", "%d/%m/%Y"),
    (r"[0-9]{4}", "%Y"),
]
TIMESTAMP_RE = (
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[T ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.[0-9]{1,9})?(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])?$"
)


class Units:
    """The current (2025-07-01) provinces and communes."""

    def __init__(self, units_dir: Path):
        provinces = json.loads((units_dir / UNITS_FILE).read_text(encoding="utf-8"))
        self.provinces = sorted(p["Code"] for p in provinces)
        self.pairs = sorted((w["ProvinceCode"], w["Code"]) for p in provinces for w in p["Wards"])
        self.communes = sorted(c for _, c in self.pairs)


# ---------------------------------------------------------------------------------------
# Shared predicates for rules without a built-in check in both tools. Each takes text
# column(s) and returns a boolean Series, True where the value passes.
# ---------------------------------------------------------------------------------------

def is_birth_date(s: pd.Series) -> pd.Series:
    """A real calendar date in an accepted form, year 1800-2200, not after today."""
    parsed = pd.concat(
        [pd.to_datetime(s[s.str.fullmatch(shape, na=False)], format=fmt, errors="coerce") for shape, fmt in DATE_FORMS]
    ).reindex(s.index)
    return parsed.notna() & (parsed.dt.year >= 1800) & (parsed <= pd.Timestamp.today())


def is_phone(s: pd.Series) -> pd.Series:
    """A Vietnamese mobile or landline number, ignoring spaces, dots and dashes."""
    return s.str.replace(PHONE_SEPARATORS, "", regex=True).str.fullmatch(PHONE_RE, na=False)


def is_timestamp(s: pd.Series) -> pd.Series:
    """YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM] naming a real date and time of day."""
    parts = s.str.extract(TIMESTAMP_RE)
    return pd.to_datetime(parts["date"] + " " + parts["time"], format="%Y-%m-%d %H:%M:%S", errors="coerce").notna()


def is_first_occurrence(s: pd.Series) -> pd.Series:
    """False for the second and later occurrences of a value."""
    return ~s.duplicated(keep="first")


def pairs_in_set(a: pd.Series, b: pd.Series, pairs: list[tuple[str, str]]) -> pd.Series:
    """True where (a, b) is one of `pairs`."""
    return pd.Series(pd.MultiIndex.from_arrays([a, b]).isin(pairs), index=a.index)


def read_table(path: Path) -> pd.DataFrame:
    """All fields as text; only an empty (or, in JSONL, absent or null) field is missing.

    CSV with a header row, or JSONL (`.jsonl`: one object of text values per line, as
    `lienthong synth` writes them)."""
    if path.suffix == ".jsonl":
        # The same text dtype `read_csv` gives (pandas' default string type), not the
        # object-backed strings `read_json` makes.
        df = pd.read_json(path, lines=True, dtype=False)
        return df.replace("", np.nan).astype(str)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


# ---------------------------------------------------------------------------------------
# pandera
# ---------------------------------------------------------------------------------------

def pandera_validator(units: Units):
    """A DataFrameSchema, and a function validating a frame into {rule: failing row indexes}."""
    import pandera.pandas as pa

    def column(name: str, *checks, **options) -> pa.Column:
        return pa.Column(str, nullable=name not in MANDATORY, checks=list(checks), **options)

    schema = pa.DataFrameSchema(
        {
            "personal_id": column(
                "personal_id",
                pa.Check.str_matches(PERSONAL_ID_RE, error="personal_id.format"),
                unique=True,
                report_duplicates="exclude_first",
            ),
            "full_name": column("full_name"),
            "birth_date": column("birth_date", pa.Check(is_birth_date, error="birth_date.format")),
            "sex": column("sex", pa.Check.isin(SEX, error="sex.code")),
            "ethnicity": column("ethnicity", pa.Check.isin(ETHNICITY, error="ethnicity.code")),
            "religion": column("religion", pa.Check.isin(RELIGION, error="religion.code")),
            "nationality": column("nationality", pa.Check.isin(ISO_ALPHA2, error="nationality.code")),
            "province_code": column("province_code", pa.Check.isin(units.provinces, error="province_code.code")),
            "commune_code": column("commune_code", pa.Check.isin(units.communes, error="commune_code.code")),
            "address": column("address"),
            "phone": column("phone", pa.Check(is_phone, error="phone.format")),
            "email": column("email", pa.Check.str_matches(EMAIL_RE, error="email.format")),
            "updated_at": column("updated_at", pa.Check(is_timestamp, error="updated_at.format")),
        },
        checks=[
            # The commune must lie in the row's province (when both are given).
            pa.Check(
                lambda df: df["province_code"].isna()
                | df["commune_code"].isna()
                | pairs_in_set(df["province_code"], df["commune_code"], units.pairs),
                error="commune_code.code",
            )
        ],
    )
    # pandera's own checks, named by pandera; every other check is named by its rule.
    builtin = {"not_nullable": "mandatory.missing", "field_uniqueness": "personal_id.duplicate"}

    def validate(df: pd.DataFrame) -> dict[str, set]:
        try:
            schema.validate(df, lazy=True)
            return {}
        except pa.errors.SchemaErrors as err:
            cases = err.failure_cases
        rules = cases["check"].map(lambda c: builtin.get(c, c))
        unknown = set(rules) - set(RULES)
        if unknown:
            sys.exit(f"pandera reported failures outside the rules (is the CSV well-formed?): {sorted(unknown)}")
        # A DataFrame-level failure is reported once per column of the row: count rows.
        return {rule: set(index) for rule, index in cases["index"].groupby(rules)}

    return validate


# ---------------------------------------------------------------------------------------
# Great Expectations
# ---------------------------------------------------------------------------------------

def gx_validator(units: Units):
    """An ExpectationSuite run by a ValidationDefinition, and a function validating a
    frame into {rule: failing row indexes}."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.core.expect_column_pair_values_to_be_in_set import (
        ExpectColumnPairValuesToBeInSet,
    )
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
    from great_expectations.expectations.metrics.map_metric_provider import (
        ColumnPairMapMetricProvider,
        column_pair_condition_partial,
    )

    def column_map_expectation(name: str, predicate):
        """A custom column-map expectation `name` whose metric is `predicate` (GX passes it
        the column with missing values already removed)."""
        metric = f"column_values.lienthong_{predicate.__name__}"
        condition = column_condition_partial(engine=PandasExecutionEngine)(lambda cls, column, **_: predicate(column))
        type(f"{name}Metric", (ColumnMapMetricProvider,), {"condition_metric_name": metric, "_pandas": condition})
        return type(name, (ColumnMapExpectation,), {"map_metric": metric})

    class ColumnPairValuesInSetVectorised(ColumnPairMapMetricProvider):
        """column_pair_values.in_set without the built-in's row-by-row Python loop."""

        condition_metric_name = "column_pair_values.lienthong_in_set"
        condition_value_keys = ("value_pairs_set",)
        condition_domain_keys = ("batch_id", "table", "column_A", "column_B", "ignore_row_if")

        @column_pair_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column_A, column_B, value_pairs_set, **_):
            return pairs_in_set(column_A, column_B, value_pairs_set)

    class ExpectColumnPairValuesToBeInSetVectorised(ExpectColumnPairValuesToBeInSet):
        map_metric = "column_pair_values.lienthong_in_set"

    BirthDate = column_map_expectation("ExpectColumnValuesToBeLienthongBirthDate", is_birth_date)
    Phone = column_map_expectation("ExpectColumnValuesToBeLienthongPhone", is_phone)
    Timestamp = column_map_expectation("ExpectColumnValuesToBeLienthongTimestamp", is_timestamp)
    FirstOccurrence = column_map_expectation("ExpectColumnValuesToBeLienthongFirstOccurrence", is_first_occurrence)

    E = gx.expectations

    def rule(name: str) -> dict:
        return {"meta": {"rule": name}}

    expectations = [E.ExpectColumnValuesToNotBeNull(column=c, **rule("mandatory.missing")) for c in MANDATORY] + [
        E.ExpectColumnValuesToMatchRegex(column="personal_id", regex=PERSONAL_ID_RE, **rule("personal_id.format")),
        BirthDate(column="birth_date", **rule("birth_date.format")),
        E.ExpectColumnValuesToBeInSet(column="sex", value_set=SEX, **rule("sex.code")),
        E.ExpectColumnValuesToBeInSet(column="ethnicity", value_set=ETHNICITY, **rule("ethnicity.code")),
        E.ExpectColumnValuesToBeInSet(column="religion", value_set=RELIGION, **rule("religion.code")),
        E.ExpectColumnValuesToBeInSet(column="nationality", value_set=ISO_ALPHA2, **rule("nationality.code")),
        E.ExpectColumnValuesToBeInSet(column="province_code", value_set=units.provinces, **rule("province_code.code")),
        E.ExpectColumnValuesToBeInSet(column="commune_code", value_set=units.communes, **rule("commune_code.code")),
        ExpectColumnPairValuesToBeInSetVectorised(
            column_A="province_code",
            column_B="commune_code",
            value_pairs_set=units.pairs,
            ignore_row_if="either_value_is_missing",
            **rule("commune_code.code"),
        ),
        Phone(column="phone", **rule("phone.format")),
        E.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_RE, **rule("email.format")),
        Timestamp(column="updated_at", **rule("updated_at.format")),
        FirstOccurrence(column="personal_id", **rule("personal_id.duplicate")),
    ]

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas("bench").add_dataframe_asset("citizen").add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name="citizen", expectations=expectations))
    run = context.validation_definitions.add(gx.ValidationDefinition(name="citizen", data=batch, suite=suite))
    result_format = {"result_format": "COMPLETE", "return_unexpected_index_query": False}

    def validate(df: pd.DataFrame) -> dict[str, set]:
        failures: dict[str, set] = {}
        for res in run.run(batch_parameters={"dataframe": df}, result_format=result_format).results:
            config = res.expectation_config
            if "unexpected_index_list" not in res.result:
                sys.exit(f"GX could not evaluate {config.type} {config.kwargs}: {res.exception_info}")
            failures.setdefault(config.meta["rule"], set()).update(res.result["unexpected_index_list"])
        return failures

    return validate


# ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", choices=["pandera", "gx"], required=True)
    parser.add_argument("--input", type=Path, required=True, help="citizen CSV with a header row, or JSONL (.jsonl)")
    parser.add_argument(
        "--units-dir", type=Path, default=REPO / "crates/lienthong-dictionary/data/admin-units",
        help=f"folder holding {UNITS_FILE}",
    )
    args = parser.parse_args()

    units = Units(args.units_dir)
    validate = (pandera_validator if args.tool == "pandera" else gx_validator)(units)

    start = time.perf_counter()
    df = read_table(args.input)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        sys.exit(f"{args.input}: missing columns {missing}")
    failures = validate(df)
    seconds = time.perf_counter() - start

    invalid = set().union(*failures.values())
    print(json.dumps({
        "tool": args.tool,
        "rows": len(df),
        "seconds": round(seconds, 3),
        "rows_per_s": round(len(df) / seconds),
        "invalid_rows": len(invalid),
        "failures": {rule: len(failures.get(rule, ())) for rule in RULES},
    }))


if __name__ == "__main__":
    main()
