"""Splink 5 + DuckDB (2 threads) deduplicating the same people.csv as `lienthong link dedupe`,
with an equivalent model: the same fields, comparable levels (names by Jaro-Winkler with
term frequencies, dates of birth, sex, personal id by Damerau-Levenshtein, commune), the same
blocking rules, u by random sampling (1 M pairs), m by EM per blocking rule, matches at
probability >= 0.9, clusters by connected components. Timed end to end from the CSV.

    python splink_dedupe.py people.csv truth.json clusters_out.csv
"""

import json
import sys
import time

t0 = time.time()

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import Linker, SettingsCreator, block_on  # noqa: E402
from splink.backends.duckdb import DuckDBAPI  # noqa: E402

people, truth_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute("SET threads TO 2")
db_api = DuckDBAPI(connection=con)

df = pd.read_csv(people, dtype=str, keep_default_na=False)
df["unique_id"] = range(1, len(df) + 1)
names = df["full_name"].str.lower().str.split()
df["given"] = names.str[-1]
df["name_lower"] = names.str.join(" ")
df["birth_year"] = df["birth_date"].str[:4]
md = df["birth_date"].str[5:]
df["month_day"] = md.where(md.str[:2] <= md.str[3:], md.str[3:] + "-" + md.str[:2])
for c in df.columns:
    df.loc[df[c] == "", c] = None

settings = SettingsCreator(
    link_type="dedupe_only",
    comparisons=[
        cl.NameComparison("name_lower").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison(
            "birth_date", input_is_string=True, datetime_format="%Y-%m-%d"
        ),
        cl.ExactMatch("sex"),
        cl.DamerauLevenshteinAtThresholds("personal_id", [1, 2]),
        cl.ExactMatch("commune_code"),
        cl.ExactMatch("phone"),
    ],
    blocking_rules_to_generate_predictions=[
        block_on("personal_id"),
        block_on("given", "birth_date"),
        block_on("name_lower", "birth_year"),
        block_on("birth_date", "commune_code"),
        block_on("name_lower", "month_day"),
    ],
    retain_intermediate_calculation_columns=False,
)

linker = Linker(db_api.register(df), settings, log_level=30)
linker.training.estimate_probability_two_random_records_match(
    [block_on("personal_id"), block_on("name_lower", "birth_date", "commune_code")], recall=0.7
)
linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
for rule in [block_on("given", "birth_date"), block_on("personal_id"), block_on("birth_date", "commune_code")]:
    linker.training.estimate_parameters_using_expectation_maximisation(rule)
pred = linker.inference.predict(threshold_match_probability=0.9)
clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.9).as_pandas_dataframe()
clusters[["unique_id", "cluster_id"]].to_csv(out, index=False)
elapsed = time.time() - t0

# Pairwise precision / recall against the truth (timed separately, like lienthong's --truth).
truth = json.load(open(truth_path))
truth_of = {}
true_pairs = 0
for i, c in enumerate(truth["clusters"]):
    true_pairs += len(c) * (len(c) - 1) // 2
    for r in c:
        truth_of[r] = i
predicted = {}
for uid, cid in zip(clusters["unique_id"], clusters["cluster_id"]):
    predicted.setdefault(cid, []).append(int(uid))
tp = pp = 0
for members in predicted.values():
    k = len(members)
    pp += k * (k - 1) // 2
    by = {}
    for m in members:
        if m in truth_of:
            by[truth_of[m]] = by.get(truth_of[m], 0) + 1
    tp += sum(n * (n - 1) // 2 for n in by.values())
p = tp / pp if pp else 1.0
r = tp / true_pairs if true_pairs else 1.0
f1 = 2 * p * r / (p + r) if p + r else 0.0
print(json.dumps({"seconds": round(elapsed, 2), "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}))
