#!/usr/bin/env bash
# Counts repeated code with the `duplicates` command (the development tool library's; it is not
# installed by scripts/env.sh), over a commit's whole tree and over its non-test code:
#
#   scripts/duplicates.sh [REV] [--rows]
#
# REV defaults to HEAD (committed code only: uncommitted changes are not counted). Non-test code
# is the tree without `tests/`, `benches/`, `fuzz/` and `testkit/` folders, `tests.rs` and
# `*_tests.rs` files, and the `#[cfg(test)] mod ... { ... }` module that closes a source file.
# For each tree it prints the tool's summary line and how many pairs the tool did not mark
# `boilerplate` (runs alike only in shape: struct fields of unrelated types, builder chains,
# constant tables). With --rows it prints the rows that are not boilerplate too.
set -euo pipefail

rev=HEAD
rows=false
for a in "$@"; do
    case "$a" in
        --rows) rows=true ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        -*) echo "unknown option $a (see --help)" >&2; exit 2 ;;
        *) rev=$a ;;
    esac
done

command -v duplicates >/dev/null || {
    echo "the duplicates command is not on PATH (it comes with the development tool library)" >&2
    exit 2
}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
git -C "$repo" rev-parse --verify --quiet "$rev^{commit}" >/dev/null || {
    echo "not a commit: $rev" >&2
    exit 2
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A tree as its own git checkout (the tool lists files through git).
tree() {
    mkdir -p "$1"
    git -C "$repo" archive "$rev" | tar -x -C "$1"
}
commit() {
    git -C "$1" init -q . && git -C "$1" add -A >/dev/null
    git -C "$1" -c user.email=dup@localhost -c user.name=dup commit -qm tree
}

tree "$work/whole"
tree "$work/code"
(
    cd "$work/code"
    find . -type d \( -name tests -o -name benches -o -name fuzz -o -name testkit \) -prune \
        -exec rm -rf {} +
    find . \( -name tests.rs -o -name '*_tests.rs' \) -delete
    # The closing `#[cfg(test)] mod name { ... }` of a source file.
    python3 - <<'EOF'
import pathlib, re
for p in pathlib.Path('.').rglob('*.rs'):
    lines = p.read_text().split('\n')
    for i, l in enumerate(lines[:-1]):
        if l.strip() == '#[cfg(test)]' and re.match(r'\s*mod \w+ \{\s*$', lines[i + 1]):
            rest = '\n'.join(lines[i:])
            # Only when the module runs to the end of the file.
            if rest.count('{') == rest.count('}'):
                p.write_text('\n'.join(lines[:i]) + '\n')
            break
EOF
)
commit "$work/whole"
commit "$work/code"

report() {
    local name=$1 dir=$2 out
    out=$(cd "$dir" && duplicates --most 200 --seconds 300)
    echo "$name: $(head -1 <<<"$out")"
    echo "$name: $(cd "$dir" && git ls-files -z '*.rs' | xargs -0 cat | wc -l | tr -d ' ') lines of Rust"
    echo "$name: $(grep -c '^D[0-9]* .*' <<<"$out" | tr -d ' ') rows listed, $(grep '^D[0-9]' <<<"$out" | grep -vc boilerplate || true) not marked boilerplate"
    if $rows; then grep '^D[0-9]' <<<"$out" | grep -v boilerplate || true; fi
    grep -E '^\(\+|^left out|^incomplete' <<<"$out" || true
}
echo "commit $(git -C "$repo" rev-parse --short "$rev")"
report "whole tree" "$work/whole"
report "non-test code" "$work/code"
