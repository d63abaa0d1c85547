#!/usr/bin/env python3
"""Derives the two fixtures of this directory from the BANATIC file embedded in Bouquet.

    python3 derive.py [PATH/TO/perimetre-epci-a-fp.csv.gz]

- banatic-35-actuel.csv: the header and every line whose `dept` (the EPCI's département)
  is 35, copied byte for byte (Windows-1252, CRLF), in the order of the file.
- banatic-35-ancien.csv: an older snapshot derived from it (see README.md): one commune
  absent, a commune nouvelle shown as the two communes it was made of, one commune under
  another name. The EPCI columns of the EPCI concerned are recomputed from their lines.

Works on bytes: nothing is re-encoded. Run it again after the embedded file changes.
"""

import gzip
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(
    HERE, "..", "..", "..", "..", "..", "standards", "backoffice", "banatic",
    "perimetre-epci-a-fp.csv.gz",
)

# Columns (0-based) of the official file.
DEPT, SIREN, NB_MEMBRES, TOTAL_TOT, TOTAL_MUN, INSEE, SIREN_MEMBRE, NOM, PTOT, PMUN = (
    0, 1, 5, 6, 7, 9, 10, 11, 12, 13,
)

ABSENT = b"35203"  # La Nouaye (CC Montfort Communaute): absent from the old file.
NOUVELLE = b"35220"  # Pire-Chance (CC Pays de Chateaugiron Communaute), commune nouvelle...
# ...shown as the two communes it was made of (1 January 2019). The SIRENs are made up
# (prefix 999, Luhn key), the populations invented so that they add up to Pire-Chance's.
BEFORE = [
    (b"35220", b"999350226", "Piré-sur-Seiche".encode("cp1252"), 2850, 2802),
    (b"35053", b"999350531", "Chancé".encode("cp1252"), 381, 375),
]
RENAMED = (b"35333", b"Le Theil")  # Le Theil-de-Bretagne, under an invented older name.


def number(field):
    return int(field.replace(b" ", b""))


def written(n):
    """8807 -> b"8 807", as the official file writes numbers."""
    return f"{n:,}".replace(",", " ").encode("ascii")


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    with gzip.open(source, "rb") as f:
        raw = f.read()
    lines = raw.split(b"\r\n")
    header, rows = lines[0], [l for l in lines[1:] if l.split(b";")[DEPT] == b"35"]
    with open(os.path.join(HERE, "banatic-35-actuel.csv"), "wb") as f:
        f.write(b"".join(l + b"\r\n" for l in [header] + rows))

    old = []
    for line in rows:
        fields = line.split(b";")
        if fields[INSEE] == ABSENT:
            continue
        if fields[INSEE] == NOUVELLE:
            for insee, siren, name, ptot, pmun in BEFORE:
                copy = list(fields)
                copy[INSEE], copy[SIREN_MEMBRE], copy[NOM] = insee, siren, name
                copy[PTOT], copy[PMUN] = written(ptot), written(pmun)
                old.append(copy)
            continue
        if fields[INSEE] == RENAMED[0]:
            fields[NOM] = RENAMED[1]
        old.append(fields)

    # The EPCI columns, recomputed from the lines of each EPCI (as in the official file).
    members = {}
    for fields in old:
        epci = members.setdefault(fields[SIREN], [0, 0, 0])
        epci[0] += 1
        epci[1] += number(fields[PTOT])
        epci[2] += number(fields[PMUN])
    for fields in old:
        count, tot, mun = members[fields[SIREN]]
        fields[NB_MEMBRES] = str(count).encode("ascii")
        fields[TOTAL_TOT], fields[TOTAL_MUN] = written(tot), written(mun)

    # Official order within an EPCI: population descending (EPCI keep their order).
    order = []
    for fields in old:
        if fields[SIREN] not in order:
            order.append(fields[SIREN])
    old.sort(key=lambda f: (order.index(f[SIREN]), -number(f[PTOT])))
    with open(os.path.join(HERE, "banatic-35-ancien.csv"), "wb") as f:
        f.write(b"".join(l + b"\r\n" for l in [header] + [b";".join(x) for x in old]))


if __name__ == "__main__":
    main()
