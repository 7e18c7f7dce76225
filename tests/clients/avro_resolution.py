"""Checks tests/avro/resolution.json against fastavro, an Avro
implementation no one here wrote (the one under confluent-kafka's Avro
serde). Each case's datum is
written with the writer schema and read with the reader schema; the result
must be the case's `expected` (the specification's rule), and each
`refused` case must fail to read. The fingerprints there must be fastavro's:
its Parsing Canonical Form, CRC-64-AVRO, MD5 and SHA-256.
tests/avro_resolution.rs checks ddsql (apache-avro) against the same file.

    python avro_resolution.py FILE          check
    python avro_resolution.py FILE --fill   write fastavro's fingerprints in
"""

import base64
import decimal
import io
import json
import sys

import fastavro
import fastavro.read
from fastavro.schema import fingerprint, to_parsing_canonical_form

# Dates, times and timestamps as their numbers, as the file shows them
# (fastavro would make datetimes of them); decimals stay Decimals.
for key in [k for k in fastavro.read.LOGICAL_READERS if "decimal" not in k]:
    del fastavro.read.LOGICAL_READERS[key]

ROOT = sys.argv[1].rsplit("tests/avro/", 1)[0]


def named_types(schema, names, namespace=""):
    """Every named type in `schema`, by full and short name."""
    if isinstance(schema, list):
        for s in schema:
            named_types(s, names, namespace)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "enum", "fixed"):
            name = schema["name"]
            ns = schema.get("namespace", namespace)
            full = name if "." in name or not ns else f"{ns}.{name}"
            names[full] = names[full.rsplit(".", 1)[-1]] = schema
            namespace = full.rsplit(".", 1)[0] if "." in full else ""
        for f in schema.get("fields", []):
            named_types(f["type"], names, namespace)
        for k in ("items", "values"):
            if k in schema:
                named_types(schema[k], names, namespace)
        if isinstance(t, (dict, list)):
            named_types(t, names, namespace)
    return names


def to_python(j, schema, names):
    """The file's JSON datum as the Python datum both libraries write:
    bytes from base64, decimals from their digits."""
    if isinstance(schema, str) and schema in names:
        schema = names[schema]
    if isinstance(schema, list):
        if j is None:
            return None
        for s in schema:
            if s != "null":
                try:
                    return to_python(j, s, names)
                except (TypeError, ValueError, decimal.InvalidOperation):
                    continue
        raise ValueError(f"{j!r} fits no branch of {schema}")
    if isinstance(schema, dict):
        t = schema["type"]
        if schema.get("logicalType") == "decimal":
            return decimal.Decimal(j)
        if t == "record":
            return {f["name"]: to_python(j[f["name"]], f["type"], names) for f in schema["fields"] if f["name"] in j}
        if t == "array":
            return [to_python(x, schema["items"], names) for x in j]
        if t == "map":
            return {k: to_python(v, schema["values"], names) for k, v in j.items()}
        if t in ("enum", "fixed"):
            return base64.b64decode(j) if t == "fixed" else j
        return to_python(j, t, names)
    if schema == "bytes":
        if not isinstance(j, str):
            raise TypeError("bytes are base64 text")
        return base64.b64decode(j)
    return j


def to_json(v):
    """A datum as read, in the file's JSON shape."""
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    return v


def with_fastavro(case):
    writer = fastavro.parse_schema(case["writer"])
    reader = fastavro.parse_schema(case["reader"])
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, writer, to_python(case["datum"], case["writer"], named_types(case["writer"], {})))
    buf.seek(0)
    return fastavro.schemaless_reader(buf, writer, reader)


def schema_of(entry):
    if "file" in entry:
        with open(ROOT + entry["file"]) as f:
            return json.load(f)
    return entry["schema"]


def fingerprints(schema):
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
    return {
        "canonical": canonical,
        "rabin": fingerprint(canonical, "CRC-64-AVRO"),
        "md5": fingerprint(canonical, "MD5"),
        "sha256": fingerprint(canonical, "SHA-256"),
    }


def main():
    path = sys.argv[1]
    with open(path) as f:
        spec = json.load(f)
    if "--fill" in sys.argv:
        for entry in spec["fingerprints"]:
            entry.update(fingerprints(schema_of(entry)))
        with open(path, "w") as f:
            json.dump(spec, f, indent=2)
            f.write("\n")
        print(f"avro resolution: fastavro's fingerprints written into {path}")
        return
    failures = []
    # Apache's own Python `avro` 1.12 is not checked: it refuses six of
    # these rules (a union read as one of its branches, enum defaults,
    # aliases, string/bytes, promotion inside arrays and maps) and returns
    # promoted numbers unconverted.
    for name, read in (("fastavro", with_fastavro),):
        for case in spec["cases"]:
            try:
                got = to_json(read(case))
            except Exception as e:  # noqa: BLE001: any failure is a difference
                got = f"error: {e}"
            if got != case["expected"]:
                failures.append(f"{name}: {case['rule']}: expected {case['expected']}, read {got}")
        for case in spec["refused"]:
            try:
                got = read({**case, "expected": None})
                failures.append(f"{name}: {case['rule']}: read {got!r}, expected a failure")
            except Exception:  # noqa: BLE001: the failure is the expected answer
                pass
    for entry in spec["fingerprints"]:
        mine = fingerprints(schema_of(entry))
        for k, v in mine.items():
            if entry.get(k) != v:
                failures.append(f"fingerprint {k} of {entry.get('file') or json.dumps(entry['schema'])[:60]}: file has {entry.get(k)}, fastavro {v}")
    if failures:
        print("avro resolution: differences:", *failures, sep="\n  ")
        sys.exit(1)
    print(f"avro resolution: fastavro reads {len(spec['cases'])} cases and refuses {len(spec['refused'])} as the file says; {len(spec['fingerprints'])} fingerprints are fastavro's")


main()
