#!/usr/bin/env bash
# Compares the schema a running congvu publishes at cn=Subschema with the one OpenLDAP slapd
# publishes with its standard schema files (core, cosine, inetorgperson), definition by
# definition: every attribute type, object class, syntax and matching rule congvu serves that
# slapd also knows, field by field. slapd is started privately on loopback with a throwaway
# configuration and stopped at the end; the system's slapd is not touched.
# Usage: bench/schema-vs-slapd.sh [CONGVU_LDAP_URL]   (default ldap://127.0.0.1:3389)
# The summary of a run is in docs/ldap.md, "The schema".
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"
congvu_url="${1:-ldap://127.0.0.1:3389}"
for tool in slapd ldapsearch python3; do
    command -v "$tool" >/dev/null || {
        echo "schema-vs-slapd: $tool not found: apt-get install slapd ldap-utils python3" >&2
        exit 1
    }
done

dir="$(mktemp -d)"
slapd_pid=""
cleanup() {
    if [[ -n "$slapd_pid" ]]; then kill "$slapd_pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

# A free loopback port for slapd.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$dir/db"
cat >"$dir/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_ldif
pidfile $dir/slapd.pid
database ldif
suffix "dc=example,dc=org"
directory $dir/db
EOF
slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/" -d 0 >"$dir/slapd.log" 2>&1 &
slapd_pid=$!
for _ in $(seq 1 50); do
    ldapsearch -x -H "ldap://127.0.0.1:$port" -b "" -s base >/dev/null 2>&1 && break
    sleep 0.1
done

lists=(attributeTypes objectClasses ldapSyntaxes matchingRules)
read_schema() {
    ldapsearch -x -LLL -o ldif_wrap=no -H "$1" -b cn=Subschema -s base '(objectClass=*)' "${lists[@]}"
}
read_schema "$congvu_url" >"$dir/congvu.ldif"
read_schema "ldap://127.0.0.1:$port" >"$dir/slapd.ldif"

python3 - "$dir/congvu.ldif" "$dir/slapd.ldif" <<'PYTHON'
import base64, re, sys

def read(path):
    """The definitions of an LDIF subschema entry: list name -> [text]."""
    lists = {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        m = re.match(r"^(\w+)(::?) (.*)$", line)
        if not m or m.group(1) == "dn":
            continue
        value = base64.b64decode(m.group(3)).decode() if m.group(2) == "::" else m.group(3)
        lists.setdefault(m.group(1).lower(), []).append(value)
    return lists

KEYWORDS = {"NAME", "DESC", "OBSOLETE", "SUP", "EQUALITY", "ORDERING", "SUBSTR", "SYNTAX",
            "SINGLE-VALUE", "COLLECTIVE", "NO-USER-MODIFICATION", "USAGE", "ABSTRACT",
            "STRUCTURAL", "AUXILIARY", "MUST", "MAY"}

def parse(text):
    tokens = re.findall(r"'[^']*'|[()$]|[^\s()$']+", text)[1:-1]
    fields, key = {"OID": [tokens[0]]}, None
    for t in tokens[1:]:
        if t in KEYWORDS or t.startswith("X-"):
            key = t
            fields.setdefault(key, [])
        elif t not in "()$":
            fields[key].append(t.strip("'"))
    return fields

def index(texts):
    out = {}
    for t in texts:
        d = parse(t)
        out[d["OID"][0]] = d
    return out

def oids(texts):
    """Lowercase name or OID -> OID, for one list of definitions."""
    out = {}
    for t in texts:
        d = parse(t)
        for key in [d["OID"][0]] + d.get("NAME", []):
            out[key.lower()] = d["OID"][0]
    return out

def norm(d, field, names):
    values = d.get(field)
    if values is None:
        return None
    if field == "NAME":
        return sorted(v.lower() for v in values)
    # Lists of types or classes compare by OID: slapd's files name some by an alias
    # ('userid' for uid) and repeat some.
    if field in ("SUP", "MUST", "MAY"):
        return sorted({names.get(v.lower(), v.lower()) for v in values})
    if field in ("EQUALITY", "ORDERING", "SUBSTR", "USAGE"):
        return [v.lower() for v in values]
    if field == "SYNTAX":
        return [v.split("{")[0] for v in values]
    return values

def bound(d):
    """The suggested length after the syntax OID, if any."""
    m = re.search(r"\{(\d+)\}", " ".join(d.get("SYNTAX", [])))
    return m.group(1) if m else None

congvu, slapd = read(sys.argv[1]), read(sys.argv[2])
FIELDS = {
    "attributetypes": ["NAME", "SUP", "EQUALITY", "ORDERING", "SUBSTR", "SYNTAX",
                       "SINGLE-VALUE", "COLLECTIVE", "NO-USER-MODIFICATION", "USAGE"],
    "objectclasses": ["NAME", "SUP", "ABSTRACT", "STRUCTURAL", "AUXILIARY", "MUST", "MAY"],
    "ldapsyntaxes": ["DESC"],
    "matchingrules": ["NAME", "SYNTAX"],
}
for kind, fields in FIELDS.items():
    ours, theirs = index(congvu.get(kind, [])), index(slapd.get(kind, []))
    # Names in SUP, MUST and MAY: attribute types, or for SUP of a class, classes.
    our_names = oids(congvu.get("attributetypes", []))
    their_names = oids(slapd.get("attributetypes", []))
    if kind == "objectclasses":
        for side, texts in ((our_names, congvu), (their_names, slapd)):
            side.update(oids(texts.get("objectclasses", [])))
    # slapd's classes name some types it does not publish (dITContentRules, nameForms,
    # subtreeSpecification); those are taken to mean the types of the same names.
    their_names = {**our_names, **their_names}
    same, differ, only, bounds = 0, [], [], 0
    for oid, d in ours.items():
        name = (d.get("NAME") or [oid])[0]
        other = theirs.get(oid)
        if other is None:
            only.append(name)
            continue
        diffs = []
        for f in fields:
            a, b = norm(d, f, our_names), norm(other, f, their_names)
            # slapd writes an explicit USAGE userApplications nowhere; absent means that.
            if f == "USAGE":
                a, b = a or ["userapplications"], b or ["userapplications"]
            if f == "SUP" and kind == "objectclasses":
                a, b = a or [our_names["top"]], b or [their_names["top"]]
            if a != b:
                diffs.append(f"{f}: congvu {a} / slapd {b}")
        if diffs:
            differ.append((name, diffs))
        else:
            same += 1
            # Length bounds are suggestions (RFC 4512 section 4.1.2); counted, not listed.
            bounds += bound(d) != bound(other)
    print(f"== {kind}: {len(ours)} published by congvu, {same} identical to slapd's "
          f"({bounds} of them with another length bound), {len(differ)} different, "
          f"{len(only)} not in slapd")
    for name, diffs in differ:
        print(f"  {name}")
        for line in diffs:
            print(f"      {line}")
    if only:
        print("  not in slapd: " + ", ".join(sorted(only)))
PYTHON
